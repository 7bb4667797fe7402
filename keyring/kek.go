package keyring

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault"
)

const (
	// prefixSize is the size of Tink's TINK output prefix: 0x01 followed
	// by the big-endian key id.
	prefixSize = 5
	// tinkPrefixByte is the first byte of a TINK output prefix.
	tinkPrefixByte = 0x01
	// nonceSize and tagSize are those of AES-GCM as Tink uses it.
	nonceSize = 12
	tagSize   = 16

	// MaxDEKSize is the largest data-encryption key [KEK.Wrap] accepts. A
	// wrapped key is exactly [WrapOverhead] bytes longer than the key.
	MaxDEKSize = 1024
	// WrapOverhead is how much longer a wrapped key is than the key:
	// a 12-byte nonce and a 16-byte tag.
	WrapOverhead = nonceSize + tagSize
)

// A KEK is an immutable snapshot of a keyring's enabled keys, ready to wrap
// and unwrap data-encryption keys. It is safe for concurrent use by any
// number of goroutines; build it once per keyring version with
// [Keyring.KEK] and share it. Later edits of the Keyring do not affect it.
//
// A wrapped key is Tink's AES-GCM ciphertext of the key without its 5-byte
// output prefix: nonce (12 bytes) || ciphertext || tag (16 bytes). The
// caller stores the key id next to it, and passes both back to Unwrap.
type KEK struct {
	primaryID uint32
	primary   tink.AEAD
	// byID holds Tink's AES-GCM primitive of every enabled key (staged,
	// primary, decrypt-only). A lookup here is the O(1) lookup by output
	// prefix that Tink's keyset primitive does, without its fallback to
	// RAW keys (which a keyring never holds).
	byID   map[uint32]tink.AEAD
	ids    []uint32 // enabled key ids in creation order
	status map[uint32]Status
	// lineage is what CheckSuccessor compares: the keyring's generation,
	// each key's, and the deleted key ids.
	lineage lineage
}

// KEK builds the wrapping primitive of the keyring's current keys: the
// primary wraps; staged, primary and decrypt-only keys unwrap; disabled keys
// are left out. Each call builds a new KEK (one AES key schedule per enabled
// key): call it once per keyring version and share the result.
func (k *Keyring) KEK() (*KEK, error) {
	if k.handle == nil {
		return nil, ErrEmptyKeyring
	}
	status := make(map[uint32]Status, len(k.keys))
	for _, ki := range k.keys {
		status[ki.ID] = ki.Status
	}
	s := &KEK{byID: make(map[uint32]tink.AEAD, len(k.keys)), status: status, lineage: k.lineage()}
	for i := range k.handle.Len() {
		entry, err := k.handle.Entry(i)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		id := entry.KeyID()
		st, ok := status[id]
		if !ok {
			return nil, fmt.Errorf("%w: key %d has no metadata", ErrKeyringCorrupt, id)
		}
		if !st.canUnwrap() {
			continue
		}
		key, ok := entry.Key().(*aesgcm.Key)
		if !ok || !key.Parameters().Equal(kekParameters) {
			return nil, fmt.Errorf("%w: key %d is not AES-256-GCM with TINK prefix", ErrKeyringCorrupt, id)
		}
		p, err := aesgcm.NewAEAD(key)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %d: %w", id, err)
		}
		s.byID[id] = p
		if st == Primary {
			s.primaryID, s.primary = id, p
		}
	}
	if s.primary == nil {
		return nil, fmt.Errorf("%w: no primary key", ErrKeyringCorrupt)
	}
	for _, ki := range k.Keys() {
		if _, ok := s.byID[ki.ID]; ok {
			s.ids = append(s.ids, ki.ID)
		}
	}
	return s, nil
}

var errNilKEK = errors.New("keyring: nil or zero KEK; build one with Keyring.KEK")

// Wrap encrypts dek under the primary key with AES-256-GCM, binding ad
// (which is authenticated, not encrypted). It returns the primary key's id
// and the wrapped key: a fresh random 12-byte nonce, the ciphertext and the
// 16-byte tag, without Tink's 5-byte output prefix (the caller stores keyID
// itself). dek is at most [MaxDEKSize] bytes.
//
// Random nonces bound the number of wraps per key to about 2³² before the
// chance of a nonce collision exceeds 2⁻³²: rotate well before that.
func (s *KEK) Wrap(dek, ad []byte) (keyID uint32, wrapped []byte, err error) {
	if s == nil || s.primary == nil {
		return 0, nil, errNilKEK
	}
	if len(dek) > MaxDEKSize {
		return 0, nil, fmt.Errorf("keyring: data-encryption key of %d bytes exceeds %d", len(dek), MaxDEKSize)
	}
	ct, err := s.primary.Encrypt(dek, ad)
	if err != nil {
		return 0, nil, fmt.Errorf("keyring: wrap with key %d: %w", s.primaryID, err)
	}
	if len(ct) != prefixSize+WrapOverhead+len(dek) || ct[0] != tinkPrefixByte || binary.BigEndian.Uint32(ct[1:prefixSize]) != s.primaryID {
		// Tink's AES-GCM output layout changed: refuse rather than store
		// something Unwrap cannot read.
		return 0, nil, fmt.Errorf("keyring: wrap with key %d: unexpected ciphertext layout", s.primaryID)
	}
	return s.primaryID, ct[prefixSize:], nil
}

// Unwrap decrypts a key wrapped by [KEK.Wrap] under key keyID, checking ad.
// It re-adds Tink's output prefix (0x01 || big-endian keyID) and decrypts
// with that one key: no other key is tried.
//
// An id that the snapshot does not hold enabled (unknown, deleted or
// disabled) gives an error wrapping accountvault.ErrUnknownKey, without any
// decryption. A wrapped key that fails to authenticate (modified, wrong ad,
// wrong key, truncated) gives an error wrapping accountvault.ErrDecrypt.
// The returned key is a new slice owned by the caller, who should clear it
// when done.
func (s *KEK) Unwrap(keyID uint32, wrapped, ad []byte) (dek []byte, err error) {
	if s == nil || s.byID == nil {
		return nil, errNilKEK
	}
	p, ok := s.byID[keyID]
	if !ok {
		return nil, fmt.Errorf("keyring: key-encryption key %d: %w", keyID, accountvault.ErrUnknownKey)
	}
	if len(wrapped) < WrapOverhead || len(wrapped) > WrapOverhead+MaxDEKSize {
		return nil, fmt.Errorf("keyring: wrapped key of %d bytes under key %d: %w", len(wrapped), keyID, accountvault.ErrDecrypt)
	}
	ct := make([]byte, prefixSize+len(wrapped))
	ct[0] = tinkPrefixByte
	binary.BigEndian.PutUint32(ct[1:prefixSize], keyID)
	copy(ct[prefixSize:], wrapped)
	dek, err = p.Decrypt(ct, ad)
	if err != nil {
		return nil, fmt.Errorf("keyring: unwrap with key %d: %w", keyID, accountvault.ErrDecrypt)
	}
	return dek, nil
}

// Status returns the status key id had when the snapshot was built, and
// whether the keyring held it at all.
func (s *KEK) Status(id uint32) (Status, bool) {
	st, ok := s.status[id]
	return st, ok
}

// PrimaryID returns the id of the key that Wrap uses.
func (s *KEK) PrimaryID() uint32 {
	if s == nil {
		return 0
	}
	return s.primaryID
}

// Has reports whether the snapshot holds key keyID enabled (staged, primary
// or decrypt-only), that is whether Unwrap will try it.
func (s *KEK) Has(keyID uint32) bool {
	if s == nil {
		return false
	}
	_, ok := s.byID[keyID]
	return ok
}

// KeyIDs returns the ids of the enabled keys, oldest first. The slice is
// the caller's.
func (s *KEK) KeyIDs() []uint32 {
	if s == nil {
		return nil
	}
	return append([]uint32(nil), s.ids...)
}
