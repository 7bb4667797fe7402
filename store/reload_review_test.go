package store_test

// Adversarial review of Reload's successor check (review of
// 56a5e35..f7390d1, item 3: "make a legitimate rotation be refused").

import (
	"testing"

	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// TestReviewReplicaSkippingPromoteIsStuck: a replica polls the shared
// keyring file; it loaded the staged copy (K1 primary, K2 staged) and then
// missed the promoted copy (the operator ran `keys promote`, rewrap and
// `keys disable` within one poll interval, or the replica's reads failed
// meanwhile). The next copy it reads is the newest, authentic, higher
// generation: K2 primary, K1 disabled. Reload refuses it (PrimaryDropped),
// so the replica keeps sealing every write under K1, which every other
// replica holds disabled: its writes cannot be read anywhere else. The
// refusal protects nothing here (the refused keyring is newer); accepting
// it would have moved the replica to K2.
func TestReviewReplicaSkippingPromoteIsStuck(t *testing.T) {
	env := avtest.New(t, "sqlite")
	k := genKeyring(t)
	k1 := k.Primary()
	k2, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	lagging := newStore(t, env, k) // K1 primary, K2 staged
	mustUpsert(t, lagging, account("r0", "u0", "github", "0"))
	if err := k.Promote(k2); err != nil {
		t.Fatal(err)
	}
	up := newStore(t, env, k)
	if _, err := admin(up).Rewrap(ctx, store.WalkOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := k.Disable(k1); err != nil {
		t.Fatal(err)
	}
	reload(t, up, k)

	// The lagging replica's watcher now reads the newest file.
	rerr := lagging.Reload(kekOf(t, k))
	a := mustUpsert(t, lagging, account("r1", "u1", "github", "1"))
	_, err = up.FindByProvider(ctx, "github", "1")
	if err != nil {
		t.Fatalf("Reload of the newest keyring (generation %d, K2 primary, K1 disabled) by a replica that missed the promotion: %v; "+
			"the replica keeps sealing under the disabled K1 (row %s written now names key %d) and the up-to-date replica cannot read it: %v",
			k.Generation(), rerr, a.ID, keyIDOf(t, env, a.ID), err)
	}
}
