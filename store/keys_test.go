package store_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// memKeys is a store.Keys that is not a keyring: AES-256-GCM keys held in
// memory, as a KMS- or HSM-backed implementation would hold handles. It
// shows that the store asks nothing of its keys beyond the interface.
type memKeys struct {
	primary uint32
	aeads   map[uint32]cipher.AEAD
	ids     []uint32
	gen     uint64
}

func newMemKeys(t *testing.T, ids ...uint32) *memKeys {
	t.Helper()
	k := &memKeys{aeads: map[uint32]cipher.AEAD{}, ids: ids, primary: ids[len(ids)-1], gen: uint64(len(ids))}
	for _, id := range ids {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			t.Fatal(err)
		}
		b, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		a, err := cipher.NewGCM(b)
		if err != nil {
			t.Fatal(err)
		}
		k.aeads[id] = a
	}
	return k
}

// withPrimary returns a later version of k whose primary is id.
func (k *memKeys) withPrimary(id uint32) *memKeys {
	c := *k
	c.primary, c.gen = id, k.gen+1
	return &c
}

func (k *memKeys) Wrap(dek, ad []byte) (uint32, []byte, error) {
	a := k.aeads[k.primary]
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return 0, nil, err
	}
	return k.primary, a.Seal(nonce, nonce, dek, ad), nil
}

func (k *memKeys) Unwrap(id uint32, wrapped, ad []byte) ([]byte, error) {
	a, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("memKeys: key %d: %w", id, accountvault.ErrUnknownKey)
	}
	if len(wrapped) < a.NonceSize() {
		return nil, fmt.Errorf("memKeys: %w", accountvault.ErrDecrypt)
	}
	dek, err := a.Open(nil, wrapped[:a.NonceSize()], wrapped[a.NonceSize():], ad)
	if err != nil {
		return nil, fmt.Errorf("memKeys: %w", accountvault.ErrDecrypt)
	}
	return dek, nil
}

func (k *memKeys) PrimaryID() uint32 { return k.primary }
func (k *memKeys) KeyIDs() []uint32  { return append([]uint32(nil), k.ids...) }
func (k *memKeys) Generation() uint64 {
	return k.gen
}

func (k *memKeys) Status(id uint32) (keyring.Status, bool) {
	if _, ok := k.aeads[id]; !ok {
		return 0, false
	}
	if id == k.primary {
		return keyring.Primary, true
	}
	return keyring.DecryptOnly, true
}

// TestOtherKeysImplementation runs the store over memKeys: writes, reads,
// a rotation by Reload, Rewrap onto the new primary, Check, and the
// generation rule (an older version is refused).
func TestOtherKeysImplementation(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		ctx := context.Background()
		k1 := newMemKeys(t, 11, 22)
		s, err := store.New(env.Backend, k1.withPrimary(11), store.WithPasswordHasher(testHasher(t)))
		if err != nil {
			t.Fatal(err)
		}
		want := mustUpsert(t, s, account("m1", "u1", "github", "1"))
		sameTokens(t, mustFind(t, s, "github", "1"), want)

		k2 := k1.withPrimary(22).withPrimary(22) // two edits later
		if err := s.Reload(k2); err != nil {
			t.Fatal(err)
		}
		rep, err := admin(s).Rewrap(ctx, store.WalkOptions{})
		if err != nil || rep.Rewritten != 1 {
			t.Fatalf("Rewrap: %+v, %v", rep.Progress, err)
		}
		if id := keyIDOf(t, env, "m1"); id != 22 {
			t.Fatalf("after Rewrap the row names key %d, want 22", id)
		}
		cr, err := admin(s).Check(ctx, store.WalkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sealed, _, failed := cr.Totals(); sealed != 3 || failed != 0 || cr.KeyUsage()[22] != 3 {
			t.Fatalf("Check: %d sealed, %d failed, usage %v", sealed, failed, cr.KeyUsage())
		}
		sameTokens(t, mustFind(t, s, "github", "1"), want)
		if err := s.Reload(k1); err == nil {
			t.Fatal("Reload of an older generation of memKeys was accepted")
		}
	})
}
