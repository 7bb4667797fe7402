package store_test

// Adversarial review of per-row bad times (af86c7a..7007688): "a time that
// is not epoch seconds fails its row alone".

import (
	"errors"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// TestReviewBadTimeRowStopsKeyringCheck: when the table has no key-check
// value that opens (a table sealed before key-check values existed, one
// whose value was deleted or damaged), a store verifies its keyring by
// sampling the first rows with the backend's List. List now returns the
// readable rows together with the RowErrors of rows holding a time that
// is not epoch seconds; the sampling treats that as a failure, so one
// such row among the first 100 makes every call of every store fail
// (ready), instead of failing that row alone.
func TestReviewBadTimeRowStopsKeyringCheck(t *testing.T) {
	env := avtest.New(t, "sqlite")
	k := genKeyring(t)
	s := newStore(t, env, k)
	for _, id := range []string{"a1", "a2", "a3"} {
		mustUpsert(t, s, account(id, "u-"+id, "github", id))
	}
	// No key-check value (as in a table from before them), and one row
	// holding ISO-8601 text in a time column, as better-auth writes it.
	env.Exec(t, `DELETE FROM accountvault_meta WHERE name = 'keycheck'`)
	env.SetRaw(t, "a1", "updated_at", "2026-11-29T07:21:25.131Z")

	fresh := newStore(t, env, k)
	got, err := fresh.FindByProvider(ctx, "github", "a2")
	if err != nil {
		t.Fatalf("FindByProvider of a good row, with one bad-time row in the table: %v", err)
	}
	sameTokens(t, got, account("a2", "u-a2", "github", "a2"))
	_, err = fresh.FindByProvider(ctx, "github", "a1")
	if !errors.Is(err, accountvault.ErrInvalidTime) {
		t.Errorf("FindByProvider of the bad-time row: %v, want ErrInvalidTime", err)
	}
	// Check (the CLI's check) goes on too, and lists the row.
	rep, err := admin(fresh).Check(ctx, store.WalkOptions{})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if rep.Unreadable != 1 {
		t.Errorf("Check: %d unreadable rows, want 1", rep.Unreadable)
	}
}
