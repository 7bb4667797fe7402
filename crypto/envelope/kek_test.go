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

// testKEK is an in-test KEK written on crypto/cipher alone. Its keys are
// AES-256-GCM (newTestKEK) or XAES-256-GCM ([testKEK.withXAES], the
// reference refXAES), and it wraps the way a Tink key of the same algorithm
// does without its 5-byte output prefix: a random nonce (12 bytes for
// AES-256-GCM, 24 for XAES-256-GCM), then ciphertext and 16-byte tag, the
// associated data passed through (TestVectorsTinkCompatible checks this
// against tink-go).
type testKEK struct {
	primary uint32
	aeads   map[uint32]cipher.AEAD
	iv      io.Reader // source of nonces; crypto/rand if nil

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

// withXAES returns a copy of k sharing its keys, with an XAES-256-GCM key
// id added (or replacing k's key id).
func (k *testKEK) withXAES(id uint32, key []byte) *testKEK {
	c := &testKEK{primary: k.primary, aeads: map[uint32]cipher.AEAD{id: newRefXAES(key)}, iv: k.iv}
	for i, a := range k.aeads {
		if i != id {
			c.aeads[i] = a
		}
	}
	return c
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
	n := aead.NonceSize()
	out := make([]byte, n, n+len(dek)+aead.Overhead())
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
	n := aead.NonceSize()
	if len(wrapped) < n+aead.Overhead() {
		return nil, fmt.Errorf("testkek: wrapped key too short: %w", accountvault.ErrDecrypt)
	}
	dek, err := aead.Open(nil, wrapped[:n], wrapped[n:], ad)
	if err != nil {
		return nil, fmt.Errorf("testkek: key %d: %w", id, accountvault.ErrDecrypt)
	}
	return dek, nil
}
