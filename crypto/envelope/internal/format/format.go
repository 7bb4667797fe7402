// Package format encodes and parses the bytes of one sealed value, as
// specified in FORMAT.md at the root of the module. It knows nothing of keys
// or ciphers: it splits a value into its parts and builds associated data.
package format

import (
	"encoding/binary"

	"github.com/accountvault/accountvault"
)

// Sizes of the parts of a sealed value, in bytes.
const (
	// Magic is the first byte of every sealed value. It is a UTF-8
	// continuation byte, so no text (no OAuth token) begins with it.
	Magic = 0xA7
	// Version is the only format version this package writes and reads.
	Version = 0x01

	PrefixSize     = 4 // Magic, 'a', 'v', Version
	KeyIDSize      = 4 // uint32, big-endian
	LengthSize     = 1 // length of the wrapped data key
	FixedSize      = PrefixSize + KeyIDSize + LengthSize
	MaxWrappedSize = 255
	NonceSize      = 12
	TagSize        = 16
	DEKSize        = 32

	// MaxPlaintext is the largest plaintext sealed in one value.
	MaxPlaintext = 64 << 10
	// MaxSize is the largest well-formed sealed value.
	MaxSize = FixedSize + MaxWrappedSize + NonceSize + MaxPlaintext + TagSize
)

// Prefix is the first four bytes of every version 1 sealed value.
var Prefix = [PrefixSize]byte{Magic, 'a', 'v', Version}

// Value is a parsed sealed value. Its slices alias the parsed input.
type Value struct {
	KeyID      uint32
	Wrapped    []byte // the wrapped data key, 1..MaxWrappedSize bytes
	Nonce      []byte // NonceSize bytes
	Ciphertext []byte // ciphertext || tag, more than TagSize bytes
}

// PlaintextSize is the size of the plaintext v.Ciphertext opens to.
func (v *Value) PlaintextSize() int { return len(v.Ciphertext) - TagSize }

// IsSealed reports whether b begins with [Magic], so that it must be parsed
// as a sealed value and never taken for plaintext.
func IsSealed(b []byte) bool { return len(b) > 0 && b[0] == Magic }

// Parse splits b into its parts without copying or allocating.
//
// A b that does not begin with [Magic] (including an empty b) is not sealed:
// the error is [accountvault.ErrLegacyPlaintext]. Any other defect gives an
// error wrapping [ErrMalformed], hence [accountvault.ErrDecrypt].
func Parse(b []byte) (Value, error) {
	if !IsSealed(b) {
		return Value{}, accountvault.ErrLegacyPlaintext
	}
	if len(b) < PrefixSize {
		return Value{}, errTruncated
	}
	if b[1] != Prefix[1] || b[2] != Prefix[2] {
		return Value{}, errMagic
	}
	if b[3] != Version {
		return Value{}, errVersion
	}
	if len(b) > MaxSize {
		return Value{}, errTooLong
	}
	if len(b) < FixedSize {
		return Value{}, errTruncated
	}
	n := int(b[PrefixSize+KeyIDSize])
	if n == 0 {
		return Value{}, errEmptyWrapped
	}
	rest := b[FixedSize:]
	if len(rest) < n+NonceSize+TagSize {
		return Value{}, errTruncated
	}
	if len(rest) == n+NonceSize+TagSize {
		return Value{}, errEmptyPlaintext
	}
	return Value{
		KeyID:      binary.BigEndian.Uint32(b[PrefixSize:]),
		Wrapped:    rest[:n:n],
		Nonce:      rest[n : n+NonceSize : n+NonceSize],
		Ciphertext: rest[n+NonceSize:],
	}, nil
}

// HeaderSize is the size of the parts before the ciphertext: prefix, key
// id, wrapped key length, wrapped key and nonce.
func HeaderSize(wrappedLen int) int { return FixedSize + wrappedLen + NonceSize }

// AppendHeader appends the prefix, keyID, the length of wrapped and
// wrapped itself to dst. The caller appends the nonce and the ciphertext.
// wrapped must hold 1..MaxWrappedSize bytes.
func AppendHeader(dst []byte, keyID uint32, wrapped []byte) []byte {
	dst = append(dst, Prefix[:]...)
	dst = binary.BigEndian.AppendUint32(dst, keyID)
	dst = append(dst, byte(len(wrapped)))
	return append(dst, wrapped...)
}
