package store_test

// Adversarial review: a walk that stops for one bad row (review of
// 56a5e35..f7390d1, item 6: CompareAndSwap now writes expiries and scope,
// and validates the whole new row).

import (
	"strings"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// TestReviewRewrapStopsOnOneOversizeScope: the scope column is not bound
// to the sealed values, so a database writer (or an adopted table) can
// give one row a scope longer than accountvault.MaxScopeSize. Rewrap
// copies the row it read into the new row and hands both to the backend's
// CompareAndSwap, which validates the new row: the *InvalidAccountError is
// neither a row failure nor a conflict, so the whole walk stops at that
// row and the rotation can never complete. EncryptLegacy validates the row
// first and counts it as a failure; Rewrap does not.
func TestReviewRewrapStopsOnOneOversizeScope(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		s := newStore(t, env, k)
		for _, id := range []string{"r1", "r2", "r3"} {
			mustUpsert(t, s, account(id, "u-"+id, "github", id))
		}
		if _, err := k.Rotate(); err != nil {
			t.Fatal(err)
		}
		reload(t, s, k)
		env.SetRaw(t, "r1", "scope", strings.Repeat("s", accountvault.MaxScopeSize+1))

		rep, err := admin(s).Rewrap(ctx, store.WalkOptions{})
		if err != nil {
			t.Fatalf("Rewrap stopped at the first row with an oversize scope after %d rows (%d rewritten, %d failed): %v",
				rep.Seen, rep.Rewritten, rep.Failed, err)
		}
		if rep.Rewritten != 2 || rep.Failed != 1 {
			t.Fatalf("Rewrap: %+v; want r2 and r3 rewrapped and r1 listed as a failure", rep.Progress)
		}
	})
}
