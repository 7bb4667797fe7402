package store_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// rotationCopies returns a keyring K1 → K2 rotation with the copies the
// issue's rollback scenario needs: staged (K2 staged, K1 primary: a copy
// that reached replicas and backups), and final (K2 primary, K1 disabled
// and deleted).
func rotationCopies(t *testing.T) (staged, promoted, final *keyring.Keyring) {
	t.Helper()
	k := genKeyring(t)
	k1 := k.Primary()
	k2, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	staged = k.Clone()
	if err := k.Promote(k2); err != nil {
		t.Fatal(err)
	}
	promoted = k.Clone()
	if err := k.Disable(k1); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete(k1); err != nil {
		t.Fatal(err)
	}
	return staged, promoted, k
}

// TestReloadRefusesRollback: a running store handed an older authentic
// copy of its keyring (the staged copy, in which the deleted K1 is primary)
// refuses it with ErrRollback and an audit event, and keeps sealing with
// the keys it has.
func TestReloadRefusesRollback(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		staged, promoted, final := rotationCopies(t)
		var logs bytes.Buffer
		s := newStore(t, env, staged, store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		mustUpsert(t, s, account("r1", "u1", "github", "1"))
		reload(t, s, promoted)
		if _, err := admin(s).Rewrap(context.Background(), store.WalkOptions{}); err != nil {
			t.Fatal(err)
		}
		reload(t, s, final)
		err := s.Reload(kekOf(t, staged))
		var re *keyring.RollbackError
		if !errors.Is(err, keyring.ErrRollback) || !errors.As(err, &re) {
			t.Fatalf("Reload of the staged copy: %v, want a RollbackError", err)
		}
		if !strings.Contains(logs.String(), "keyring refused: rollback") {
			t.Error("no audit event for the refused keyring")
		}
		a := mustUpsert(t, s, account("r2", "u2", "github", "2"))
		if got := admin(s).PrimaryKeyID(); got != final.Primary() {
			t.Fatalf("the store seals with key %d after the refusal, want %d", got, final.Primary())
		}
		if id := keyIDOf(t, env, a.ID); id != final.Primary() {
			t.Fatalf("a write after the refusal names key %d, want %d", id, final.Primary())
		}
	})
}

// TestRestartRefusesRollback: a replica restarted with an older copy of
// the keyring, whose keys still open the table's data, is refused at its
// first call: the table records the highest generation its stores used.
// The operator's override re-admits it, and only then.
func TestRestartRefusesRollback(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		staged, promoted, _ := rotationCopies(t)
		s := newStore(t, env, promoted)
		mustUpsert(t, s, account("r1", "u1", "github", "1"))

		old := newStore(t, env, staged) // K1 primary, K2 staged: it opens r1
		_, err := old.FindByProvider(context.Background(), "github", "1")
		if !errors.Is(err, keyring.ErrRollback) {
			t.Fatalf("first call of a store on an older keyring: %v, want ErrRollback", err)
		}
		if err := admin(old).CheckKeyring(context.Background()); !errors.Is(err, keyring.ErrRollback) {
			t.Fatalf("CheckKeyring: %v, want ErrRollback", err)
		}
		// The newer store is not affected.
		mustFind(t, s, "github", "1")

		prev, err := admin(old).OverrideKeyringGeneration(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if prev != promoted.Generation() {
			t.Fatalf("override replaced generation %d, want %d", prev, promoted.Generation())
		}
		mustFind(t, old, "github", "1")
	})
}

// TestWrongKeyringMovesNoGeneration: another deployment's keyring, of a
// higher generation, is refused as a wrong keyring and does not raise the
// recorded generation, so the right keyring keeps working.
func TestWrongKeyringMovesNoGeneration(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		right := genKeyring(t)
		s := newStore(t, env, right)
		mustUpsert(t, s, account("r1", "u1", "github", "1"))
		wrong := genKeyring(t)
		for range 5 {
			if _, err := wrong.Rotate(); err != nil {
				t.Fatal(err)
			}
		}
		if wrong.Generation() <= right.Generation() {
			t.Fatalf("the wrong keyring's generation %d is not above the right one's %d", wrong.Generation(), right.Generation())
		}
		w := newStore(t, env, wrong)
		if _, err := w.FindByProvider(context.Background(), "github", "1"); !errors.Is(err, store.ErrWrongKeyring) {
			t.Fatalf("wrong keyring: %v, want ErrWrongKeyring", err)
		}
		fresh := newStore(t, env, right)
		mustFind(t, fresh, "github", "1")
	})
}

// keyIDOf returns the key id named by row id's stored access token.
func keyIDOf(t *testing.T, env *avtest.Env, id string) uint32 {
	t.Helper()
	kid, err := envelope.KeyID(env.Raw(t, id, "access_token"))
	if err != nil {
		t.Fatalf("row %s: %v", id, err)
	}
	return kid
}
