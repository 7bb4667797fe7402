package store_test

import (
	"errors"
	"testing"

	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
)

// TestReviewDBKeyringRemasterRefusesRollback: a database writer puts an
// older authentic copy of the database keyring back; DBKeyring.Edit
// refuses to build on it (ErrRollback), and so must Remaster: otherwise
// the operator's 'keys remaster --keyring db' re-encrypts the rolled-back
// copy under the new master key, reports success, and the copy under the
// old master key that replicas refuse is now also the only one the new
// master key opens.
func TestReviewDBKeyringRemasterRefusesRollback(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		e := newDBKeyringEnv(t, env)
		old, err := e.d.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := e.d.Edit(ctx, e.master, func(k *keyring.Keyring) error { _, err := k.Rotate(); return err })
		if err != nil {
			t.Fatal(err)
		}
		s := newStore(t, env, k2)
		mustUpsert(t, s, account("r1", "u1", "github", "1")) // records generation k2
		cur, err := e.d.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.d.Swap(ctx, cur, old); err != nil { // the database writer's rollback
			t.Fatal(err)
		}
		newMaster, err := keyring.ParseMasterKey(mustMasterKey(t))
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.d.Remaster(ctx, e.master, newMaster)
		if !errors.Is(err, keyring.ErrRollback) {
			t.Errorf("Remaster of a rolled-back database keyring: error %v, want ErrRollback", err)
		}
		if got, gerr := e.d.Get(ctx); gerr != nil || string(got) != string(old) {
			t.Errorf("Remaster changed the stored keyring (read error %v)", gerr)
		}
	})
}
