package keyring

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/aead/xaesgcm"
	"github.com/tink-crypto/tink-go/v2/key"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault"
)

const (
	// prefixSize is the size of Tink's TINK output prefix: 0x01 followed
	// by the big-endian key id.
	prefixSize = 5
	// tinkPrefixByte is the first byte of a TINK output prefix.
	tinkPrefixByte = 0x01

	// MaxDEKSize is the largest data-encryption key [KEK.Wrap] accepts. A
	// wrapped key is exactly [Algorithm.WrapOverhead] bytes longer than the
	// key, for the algorithm of the key that wrapped it.
	MaxDEKSize = 1024

	// AESGCMWrapOverhead is how much longer than the key a key wrapped by
	// an [AES256GCM] key is: a 12-byte IV and a 16-byte tag.
	AESGCMWrapOverhead = 12 + 16
	// XAESGCMWrapOverhead is how much longer than the key a key wrapped by
	// an [XAES256GCM] key is: a 24-byte nonce (12-byte salt, 12-byte IV)
	// and a 16-byte tag.
	XAESGCMWrapOverhead = 12 + 12 + 16
	// MaxWrapOverhead is the largest wrap overhead of any key a keyring
	// holds: a wrapped key is at most MaxDEKSize + MaxWrapOverhead bytes,
	// and a 32-byte key wraps to at most 32 + MaxWrapOverhead = 72 bytes.
	MaxWrapOverhead = XAESGCMWrapOverhead
)

// An Algorithm is the AEAD of a key-encryption key. A keyring may hold keys
// of both algorithms; each key keeps its algorithm for life.
type Algorithm uint8

const (
	// AES256GCM is AES-256-GCM with a random 96-bit IV per wrap (a Tink
	// AesGcmKey: 32-byte key, 12-byte IV, 16-byte tag, TINK output
	// prefix). Keyrings made before XAES-256-GCM hold such keys; they keep
	// wrapping while primary and unwrapping while enabled, but no new key
	// is made with this algorithm. Random 96-bit IVs limit a key to about
	// 2³² wraps: see SECURITY.md.
	AES256GCM Algorithm = 1

	// XAES256GCM is XAES-256-GCM (https://c2sp.org/XAES-256-GCM) with a
	// random 192-bit nonce per wrap (a Tink XAesGcmKey with a 12-byte salt
	// and TINK output prefix, as made by tink-go's
	// aead.XAES256GCM192BitNonceKeyTemplate): every new key has it. Each
	// wrap derives a fresh AES-256-GCM key from the key and the first 96
	// bits of the nonce; random nonces keep the chance of a collision
	// below 2⁻³² for about 2⁸⁰ wraps per key, against 2³² wraps for
	// AES256GCM.
	XAES256GCM Algorithm = 2
)

// String returns "AES-256-GCM" or "XAES-256-GCM".
func (a Algorithm) String() string {
	switch a {
	case AES256GCM:
		return "AES-256-GCM"
	case XAES256GCM:
		return "XAES-256-GCM"
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// WrapOverhead returns how much longer than the key a key wrapped by a key
// of algorithm a is: [AESGCMWrapOverhead] or [XAESGCMWrapOverhead]. It
// returns 0 for an unknown Algorithm.
func (a Algorithm) WrapOverhead() int {
	switch a {
	case AES256GCM:
		return AESGCMWrapOverhead
	case XAES256GCM:
		return XAESGCMWrapOverhead
	}
	return 0
}

// aesGCMParameters are the parameters of the AES-256-GCM keys that
// keyrings made before XAES-256-GCM hold: 32-byte key, 12-byte IV, 16-byte
// tag, TINK output prefix (0x01 || big-endian key id). Loading accepts
// them; no new key is made with them.
var aesGCMParameters = func() *aesgcm.Parameters {
	p, err := aesgcm.NewParameters(aesgcm.ParametersOpts{
		KeySizeInBytes: 32,
		IVSizeInBytes:  12,
		TagSizeInBytes: 16,
		Variant:        aesgcm.VariantTink,
	})
	if err != nil {
		panic("keyring: AES-256-GCM parameters: " + err.Error())
	}
	return p
}()

// xaesGCMParameters are the parameters of aead.XAES256GCM192BitNonceKeyTemplate:
// XAES-256-GCM with a 12-byte salt (so a 24-byte nonce), TINK output
// prefix.
var xaesGCMParameters = func() *xaesgcm.Parameters {
	p, err := xaesgcm.NewParameters(xaesgcm.VariantTink, 12)
	if err != nil {
		panic("keyring: XAES-256-GCM parameters: " + err.Error())
	}
	return p
}()

// algorithmOf returns the algorithm of k if it is a key-encryption key a
// keyring may hold: AES-256-GCM with the parameters above, or XAES-256-GCM
// with a 12-byte salt, both with the TINK output prefix. Any other key
// (RAW or CRUNCHY prefix, AES-128, a shorter salt, another AEAD) gives
// false.
func algorithmOf(k key.Key) (Algorithm, bool) {
	switch k := k.(type) {
	case *aesgcm.Key:
		if k.Parameters().Equal(aesGCMParameters) {
			return AES256GCM, true
		}
	case *xaesgcm.Key:
		if k.Parameters().Equal(xaesGCMParameters) {
			return XAES256GCM, true
		}
	}
	return 0, false
}

// newPrimitive returns Tink's AEAD of key-encryption key k, which writes
// and expects the TINK output prefix.
func newPrimitive(k key.Key, alg Algorithm) (tink.AEAD, error) {
	switch alg {
	case AES256GCM:
		return aesgcm.NewAEAD(k.(*aesgcm.Key))
	case XAES256GCM:
		// tink-go exports no constructor of the XAES-GCM primitive from a
		// key: build it through a keyset of that one key, which is Tink's
		// primitive behind a prefix lookup among one entry.
		m := keyset.NewManager()
		id, err := m.AddKey(k)
		if err != nil {
			return nil, err
		}
		if err := m.SetPrimary(id); err != nil {
			return nil, err
		}
		h, err := m.Handle()
		if err != nil {
			return nil, err
		}
		return aead.New(h)
	}
	return nil, fmt.Errorf("unknown algorithm %v", alg)
}

// A KEK is an immutable snapshot of a keyring's enabled keys, ready to wrap
// and unwrap data-encryption keys. It is safe for concurrent use by any
// number of goroutines; build it once per keyring version with
// [Keyring.KEK] and share it. Later edits of the Keyring do not affect it.
//
// A wrapped key is Tink's ciphertext of the key without its 5-byte output
// prefix. Its layout depends on the [Algorithm] of the key that wrapped it:
//
//	AES256GCM:  IV (12 bytes) || ciphertext || tag (16 bytes)
//	XAES256GCM: nonce (24 bytes: salt (12) || IV (12)) || ciphertext || tag (16 bytes)
//
// The caller stores the key id next to it, and passes both back to Unwrap.
type KEK struct {
	primaryID uint32
	primary   kekKey
	// byID holds Tink's primitive of every enabled key (staged, primary,
	// decrypt-only). A lookup here is the O(1) lookup by output prefix
	// that Tink's keyset primitive does, without its fallback to RAW keys
	// (which a keyring never holds).
	byID   map[uint32]kekKey
	ids    []uint32 // enabled key ids in creation order
	status map[uint32]Status
	// lineage is what CheckSuccessor compares: the keyring's generation,
	// each key's, and the deleted key ids.
	lineage lineage
}

// kekKey is one enabled key of a KEK: Tink's primitive of the key, which
// writes and expects the TINK output prefix, and the key's algorithm.
type kekKey struct {
	tink.AEAD
	alg Algorithm
}

// KEK builds the wrapping primitive of the keyring's current keys: the
// primary wraps; staged, primary and decrypt-only keys unwrap; disabled keys
// are left out. Each call builds a new KEK (one AES key schedule per enabled
// key, and for XAES-256-GCM keys the CMAC subkey): call it once per keyring
// version and share the result.
func (k *Keyring) KEK() (*KEK, error) {
	if k.handle == nil {
		return nil, ErrEmptyKeyring
	}
	status := make(map[uint32]Status, len(k.keys))
	for _, ki := range k.keys {
		status[ki.ID] = ki.Status
	}
	s := &KEK{byID: make(map[uint32]kekKey, len(k.keys)), status: status, lineage: k.lineage()}
	havePrimary := false
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
		alg, ok := algorithmOf(entry.Key())
		if !ok {
			return nil, fmt.Errorf("%w: key %d is neither AES-256-GCM nor XAES-256-GCM with TINK prefix", ErrKeyringCorrupt, id)
		}
		p, err := newPrimitive(entry.Key(), alg)
		if err != nil {
			return nil, fmt.Errorf("keyring: key %d: %w", id, err)
		}
		s.byID[id] = kekKey{p, alg}
		if st == Primary {
			s.primaryID, s.primary, havePrimary = id, s.byID[id], true
		}
	}
	if !havePrimary {
		return nil, fmt.Errorf("%w: no primary key", ErrKeyringCorrupt)
	}
	for _, ki := range k.Keys() {
		if _, ok := s.byID[ki.ID]; ok {
			s.ids = append(s.ids, ki.ID)
		}
	}
	return s, nil
}

// Algorithm returns the algorithm of key id, and whether the keyring holds
// it. A disabled key has an algorithm too.
func (k *Keyring) Algorithm(id uint32) (Algorithm, bool) {
	if k.handle == nil {
		return 0, false
	}
	for i := range k.handle.Len() {
		entry, err := k.handle.Entry(i)
		if err != nil || entry.KeyID() != id {
			continue
		}
		return algorithmOf(entry.Key())
	}
	return 0, false
}

var errNilKEK = errors.New("keyring: nil or zero KEK; build one with Keyring.KEK")

// Wrap encrypts dek under the primary key, binding ad (which is
// authenticated, not encrypted). It returns the primary key's id and the
// wrapped key, Tink's ciphertext without its 5-byte output prefix (the
// caller stores keyID itself): exactly [Algorithm.WrapOverhead] bytes
// longer than dek, for the primary key's algorithm (see [KEK]). Each wrap
// draws a fresh random nonce. dek is at most [MaxDEKSize] bytes.
//
// An [XAES256GCM] primary has no practical limit on the number of wraps
// (about 2⁸⁰ before the chance of a nonce collision exceeds 2⁻³²). An
// [AES256GCM] primary, found in keyrings made before XAES-256-GCM, is
// limited to about 2³² wraps by the same measure: rotate it away (see
// SECURITY.md).
func (s *KEK) Wrap(dek, ad []byte) (keyID uint32, wrapped []byte, err error) {
	if s == nil || s.primary.AEAD == nil {
		return 0, nil, errNilKEK
	}
	if len(dek) > MaxDEKSize {
		return 0, nil, fmt.Errorf("keyring: data-encryption key of %d bytes exceeds %d", len(dek), MaxDEKSize)
	}
	ct, err := s.primary.Encrypt(dek, ad)
	if err != nil {
		return 0, nil, fmt.Errorf("keyring: wrap with key %d: %w", s.primaryID, err)
	}
	if len(ct) != prefixSize+s.primary.alg.WrapOverhead()+len(dek) || ct[0] != tinkPrefixByte || binary.BigEndian.Uint32(ct[1:prefixSize]) != s.primaryID {
		// Tink's output layout changed: refuse rather than store
		// something Unwrap cannot read.
		return 0, nil, fmt.Errorf("keyring: wrap with key %d: unexpected ciphertext layout", s.primaryID)
	}
	return s.primaryID, ct[prefixSize:], nil
}

// Unwrap decrypts a key wrapped by [KEK.Wrap] under key keyID, checking ad.
// It re-adds Tink's output prefix (0x01 || big-endian keyID) and decrypts
// with that one key, with the algorithm of that key: no other key, and no
// other algorithm, is tried.
//
// An id that the snapshot does not hold enabled (unknown, deleted or
// disabled) gives an error wrapping accountvault.ErrUnknownKey, without any
// decryption. A wrapped key that fails to authenticate (modified, wrong ad,
// wrong key, truncated, or of a length the key's algorithm cannot produce
// for a key of at most [MaxDEKSize] bytes) gives an error wrapping
// accountvault.ErrDecrypt. The returned key is a new slice owned by the
// caller, who should clear it when done.
func (s *KEK) Unwrap(keyID uint32, wrapped, ad []byte) (dek []byte, err error) {
	if s == nil || s.byID == nil {
		return nil, errNilKEK
	}
	p, ok := s.byID[keyID]
	if !ok {
		return nil, fmt.Errorf("keyring: key-encryption key %d: %w", keyID, accountvault.ErrUnknownKey)
	}
	if overhead := p.alg.WrapOverhead(); len(wrapped) < overhead || len(wrapped) > overhead+MaxDEKSize {
		return nil, fmt.Errorf("keyring: wrapped key of %d bytes under %v key %d: %w", len(wrapped), p.alg, keyID, accountvault.ErrDecrypt)
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

// Algorithm returns the algorithm of key id, and whether the snapshot holds
// it enabled (as [KEK.Has]).
func (s *KEK) Algorithm(id uint32) (Algorithm, bool) {
	if s == nil {
		return 0, false
	}
	p, ok := s.byID[id]
	return p.alg, ok
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
