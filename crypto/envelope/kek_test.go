package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/accountvault/accountvault"
)

// testKEK is an in-test KEK made of AES-256-GCM keys. It wraps the way a
// Tink AES-GCM key does without its 5-byte output prefix: a 12-byte random
// IV, then ciphertext and 16-byte tag, the associated data passed through
// (TestVectorsTinkCompatible checks this against tink-go).
type testKEK struct {
	primary uint32
	aeads   map[uint32]cipher.AEAD
	iv      io.Reader // source of IVs; crypto/rand if nil

	wraps, unwraps atomic.Int64
}

func newTestKEK(tb testing.TB, primary uint32, keys map[uint32][]byte) *testKEK {
	tb.Helper()
	k := &testKEK{primary: primary, aeads: make(map[uint32]cipher.AEAD, len(keys))}
	for id, key := range keys {
		block, err := aes.NewCipher(key)
		if err != nil {
			tb.Fatalf("key %d: %v", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			tb.Fatalf("key %d: %v", id, err)
		}
		k.aeads[id] = aead
	}
	if _, ok := k.aeads[primary]; !ok {
		tb.Fatalf("primary key %d not in keys", primary)
	}
	return k
}

// randomTestKEK returns a testKEK with two random keys: 0x1A2B3C4D (old)
// and 0x5E6F7081 (primary).
func randomTestKEK(tb testing.TB) *testKEK {
	return newTestKEK(tb, 0x5E6F7081, map[uint32][]byte{
		0x1A2B3C4D: randomBytes(tb, 32),
		0x5E6F7081: randomBytes(tb, 32),
	})
}

func randomBytes(tb testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

// withPrimary returns a copy of k sharing its keys, with another primary.
func (k *testKEK) withPrimary(id uint32) *testKEK {
	return &testKEK{primary: id, aeads: k.aeads, iv: k.iv}
}

// without returns a copy of k sharing its keys, without key id.
func (k *testKEK) without(id uint32) *testKEK {
	c := &testKEK{primary: k.primary, aeads: make(map[uint32]cipher.AEAD), iv: k.iv}
	for i, a := range k.aeads {
		if i != id {
			c.aeads[i] = a
		}
	}
	return c
}

func (k *testKEK) PrimaryID() uint32 { return k.primary }

func (k *testKEK) Wrap(dek, ad []byte) (uint32, []byte, error) {
	k.wraps.Add(1)
	aead := k.aeads[k.primary]
	out := make([]byte, 12, 12+len(dek)+16)
	r := k.iv
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, out); err != nil {
		return 0, nil, err
	}
	return k.primary, aead.Seal(out, out, dek, ad), nil
}

func (k *testKEK) Unwrap(id uint32, wrapped, ad []byte) ([]byte, error) {
	k.unwraps.Add(1)
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("testkek: key %d: %w", id, accountvault.ErrUnknownKey)
	}
	if len(wrapped) < 12+16 {
		return nil, fmt.Errorf("testkek: wrapped key too short: %w", accountvault.ErrDecrypt)
	}
	dek, err := aead.Open(nil, wrapped[:12], wrapped[12:], ad)
	if err != nil {
		return nil, fmt.Errorf("testkek: key %d: %w", id, accountvault.ErrDecrypt)
	}
	return dek, nil
}
