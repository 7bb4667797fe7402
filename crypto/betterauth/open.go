package betterauth

import (
	"bytes"
	"crypto/cipher"
	"encoding/hex"
	"strconv"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// NonceSize is the size of the random nonce that begins a sealed value.
	NonceSize = chacha20poly1305.NonceSizeX
	// TagSize is the size of the Poly1305 tag that ends it.
	TagSize = chacha20poly1305.Overhead
	// MaxPlaintext is the largest token Open opens: 64 KiB, the most
	// package envelope seals.
	MaxPlaintext = 64 << 10

	// minSealed and maxSealed bound the decoded size of a value:
	// better-auth encrypts only non-empty tokens.
	minSealed = NonceSize + 1 + TagSize
	maxSealed = NonceSize + MaxPlaintext + TagSize

	// EnvelopePrefix begins a value sealed under a versioned secret.
	EnvelopePrefix = "$ba$"

	// MaxValueSize is the longest value Open decrypts: an envelope of the
	// largest version around the hex of MaxPlaintext bytes sealed.
	MaxValueSize = len(EnvelopePrefix) + 10 + 1 + 2*maxSealed
)

// The reasons of OpenErrors that name a limit.
var (
	reasonTooLong = "longer than " + strconv.Itoa(MaxValueSize) + " bytes"
	reasonVersion = "the version is not a canonical decimal number up to " + strconv.FormatUint(MaxVersion, 10)
	reasonShape   = "the ciphertext is not an even number of hex digits encoding " +
		strconv.Itoa(minSealed) + " to " + strconv.Itoa(maxSealed) + " bytes"
)

// LooksEncrypted reports whether value has the shape of a token that
// better-auth encrypted: Open returns ErrNotBetterAuth exactly when it is
// false. The shape is not evidence that it is one: see the package doc.
func LooksEncrypted(value []byte) bool {
	return bytes.HasPrefix(value, []byte(EnvelopePrefix)) || isBareShape(value)
}

// isBareShape reports whether value is an even number of hexadecimal
// digits (either case) that decodes to minSealed to maxSealed bytes.
func isBareShape(value []byte) bool {
	if len(value) < 2*minSealed || len(value) > 2*maxSealed || len(value)%2 != 0 {
		return false
	}
	for _, c := range value {
		if !isHexDigit(c) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Open returns the token that better-auth 1.7.25 encrypted into value, a
// stored accessToken or refreshToken, with the secret the value names: the
// secret of its version for a "$ba$" envelope, the unversioned secret for
// bare hex. It tries exactly that one key.
//
// It returns ErrNotBetterAuth, unwrapped, when value does not have the
// shape of better-auth ciphertext (see [LooksEncrypted]); it then did not
// decrypt anything, and value may be a plaintext token. Any value that has
// the shape and does not open (malformed after the "$ba$" prefix, a secret
// not configured, a wrong secret, an altered byte, or a hex plaintext
// token) yields an *OpenError wrapping ErrBetterAuthDecrypt. Open never
// returns a partial plaintext.
//
// Open checks value's length against [MaxValueSize] before any other
// work, and allocates one buffer of half its length, which the returned
// plaintext aliases. It does not retain value or the result.
func (s *Secrets) Open(value []byte) ([]byte, error) {
	envelope := bytes.HasPrefix(value, []byte(EnvelopePrefix))
	if len(value) > MaxValueSize {
		if envelope {
			return nil, &OpenError{Envelope: true, Version: -1, Reason: reasonTooLong}
		}
		return nil, ErrNotBetterAuth
	}
	if !envelope {
		if !isBareShape(value) {
			return nil, ErrNotBetterAuth
		}
		if !s.HasUnversioned() {
			return nil, &OpenError{Version: -1, Reason: "no unversioned secret (BETTER_AUTH_SECRET) is configured", noSecret: true}
		}
		return open(s.unversioned, value, &OpenError{Version: -1})
	}

	rest := value[len(EnvelopePrefix):]
	sep := bytes.IndexByte(rest, '$')
	if sep < 0 {
		return nil, &OpenError{Envelope: true, Version: -1, Reason: "no $ after the version"}
	}
	version, ok := parseVersion(string(rest[:sep]), false)
	if !ok {
		return nil, &OpenError{Envelope: true, Version: -1, Reason: reasonVersion}
	}
	body := rest[sep+1:]
	fail := &OpenError{Envelope: true, Version: int64(version)}
	if !isBareShape(body) {
		fail.Reason = reasonShape
		return nil, fail
	}
	aead := s.aead(version)
	if aead == nil {
		fail.Reason, fail.noSecret = "no secret of this version is configured", true
		return nil, fail
	}
	return open(aead, body, fail)
}

// open decodes the hex of nonce || ciphertext || tag in body, whose shape
// the caller checked, and opens it with aead, or returns fail.
func open(aead cipher.AEAD, body []byte, fail *OpenError) ([]byte, error) {
	buf := make([]byte, len(body)/2)
	if _, err := hex.Decode(buf, body); err != nil {
		// Unreachable: the shape check admits hex digits only.
		fail.Reason = "not hex"
		return nil, fail
	}
	nonce, sealed := buf[:NonceSize], buf[NonceSize:]
	plaintext, err := aead.Open(sealed[:0], nonce, sealed, nil)
	if err != nil {
		fail.Reason = "authentication failed"
		return nil, fail
	}
	return plaintext, nil
}
