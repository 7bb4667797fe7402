package store_test

// Adversarial review of the legacy-plaintext classification (review of
// 56a5e35..f7390d1, item 1). Each test here fails on the reviewed code.

import (
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// TestReviewFinishedWithLegacyBehindCursor: EncryptLegacy declares the
// adoption finished ("the table holds no legacy plaintext") after a walk
// without failures or conflicts. But a plaintext row inserted during the
// walk with an id the cursor has already passed (better-auth's ids are
// random, so about half of the adopted application's inserts land behind
// the cursor) is never seen: the run reports Finished, the marker is
// cleared, and the row's legacy tokens become ErrUnexpectedPlaintext that
// nothing will ever seal or open. The conflict rule
// (TestEncryptLegacyConflictDoesNotFinish) only covers updates of rows the
// walk reads; inserts behind the cursor evade it.
func TestReviewFinishedWithLegacyBehindCursor(t *testing.T) {
	eachAdopted(t, []avtest.Legacy{
		{ID: "m1", UserID: "u1", ProviderID: "github", AccountID: "gh-1", AccessToken: "at-m1"},
		{ID: "m2", UserID: "u2", ProviderID: "github", AccountID: "gh-2", AccessToken: "at-m2"},
	}, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		s := newStore(t, env, k)
		inserted := false
		rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{BatchSize: 1, Progress: func(p store.Progress) {
			if inserted {
				return
			}
			inserted = true
			// The adopted application (still running, as the doc of
			// EncryptLegacy allows for) links a new account, in
			// plaintext, with an id that sorts before the cursor.
			rawUpsert(t, env.Backend, accountvault.SealedRow{
				ID: "a0", UserID: "u0", ProviderID: "github", AccountID: "gh-0",
				AccessToken: []byte("at-a0-legacy"),
			})
		}})
		if err != nil {
			t.Fatalf("EncryptLegacy: %v", err)
		}
		if !rep.Finished {
			return // not finished: nothing is lost
		}
		check, err := admin(s).Check(ctx, store.WalkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, legacy, failed := check.Totals(); legacy != 0 || failed != 0 {
			t.Fatalf("EncryptLegacy reported the adoption finished (%d sealed, %d conflicts, %d failed), "+
				"but Check then finds %d legacy and %d failing values (row a0, inserted behind the cursor, is now unreadable: %v)",
				rep.Sealed, rep.Conflicts, rep.Failed, legacy, failed, check.Failures)
		}
	})
}

// TestReviewReopenedAdoptionLaundersPlantedToken: after the adoption has
// finished, a database writer sets the adoption marker again (it is a row
// of accountvault_meta like any other: here written through the backend's
// SwapMeta, which runs the same INSERT raw SQL would), NULLs the victim's
// sealed tokens and writes a token of their choosing in plaintext. The
// next `accountvault migrate` / EncryptLegacy run (documented as "safe to
// run again") seals the attacker's token under the victim's binding, and
// the application, with no legacy option at all, then opens it as the
// victim's token. SECURITY.md says "The attacker cannot launder a token of
// their own into a victim's row"; its note that the marker "can be set
// again" understates this: it is laundering, after adoption, by tooling.
func TestReviewReopenedAdoptionLaundersPlantedToken(t *testing.T) {
	const planted = "ya29.attacker-token"
	eachAdopted(t, []avtest.Legacy{
		{ID: "victim", UserID: "alice", ProviderID: "github", AccountID: "gh-a", AccessToken: "at-victim", RefreshToken: "rt-victim"},
	}, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		s := newStore(t, env, k)
		a := admin(s)
		rep, err := a.EncryptLegacy(ctx, store.WalkOptions{})
		if err != nil || !rep.Finished {
			t.Fatalf("EncryptLegacy: %+v, %v; want the adoption finished", rep, err)
		}

		// The database writer.
		m := env.Backend.(accountvault.Metadata)
		if err := m.SwapMeta(ctx, "legacy", nil, []byte("open")); err != nil {
			t.Fatalf("setting the adoption marker again: %v", err)
		}
		env.SetRaw(t, "victim", "refresh_token", nil)
		env.SetRaw(t, "victim", "id_token", nil)
		env.SetRaw(t, "victim", "access_token", []byte(planted))

		// The operator runs migrate again (a cron job, a runbook step).
		el, err := a.EncryptLegacy(ctx, store.WalkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.FindByProvider(ctx, "github", "gh-a")
		if err == nil && is(got.AccessToken, planted) {
			t.Fatalf("a token planted after the adoption finished was sealed by EncryptLegacy (%d values sealed) "+
				"and is returned by a store without WithLegacyPlaintext as the victim's access token", el.Sealed)
		}
	})
}
