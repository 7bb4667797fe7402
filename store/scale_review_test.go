package store_test

// Adversarial review of the batched compare-and-swap walks (merge
// 959730e: pageWriter, walkWrites, WalkOptions.Until, KeyCheckReuse).

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// TestReviewWalkPageOverMaxSwapBatch: WalkOptions.BatchSize has no upper
// bound (the CLI passes --batch through), but the page writer hands a
// whole page's swaps to one CompareAndSwapBatch, which refuses more than
// accountvault.MaxSwapBatch. An operator who raises --batch past 10,000
// to go faster gets a Rewrap (or EncryptLegacy) that reads the whole table
// to count keys and then stops at its first page, having written nothing.
func TestReviewWalkPageOverMaxSwapBatch(t *testing.T) {
	env := avtest.New(t, "sqlite") // the page writer is the backend's caller: one backend shows it
	k := genKeyring(t)
	s := newStore(t, env, k)
	const n = accountvault.MaxSwapBatch + 2
	for i := range n {
		mustUpsert(t, s, account(fmt.Sprintf("b%05d", i), "u", "github", fmt.Sprint("gh-", i)))
	}
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	reload(t, s, k)
	spy := newBatchSpy(t, env)
	var most int64
	spy.before = func() {}
	sp, err := store.New(&maxBatchSpy{batchSpy: spy, most: &most}, kekOf(t, k), store.WithTable(env.Table), store.WithPasswordHasher(testHasher(t)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := admin(sp).Rewrap(ctx, store.WalkOptions{BatchSize: n})
	if err != nil || rep.Rewritten != n {
		t.Fatalf("Rewrap with BatchSize %d: %d rows rewritten of %d, %v", n, rep.Rewritten, n, err)
	}
	if most > accountvault.MaxSwapBatch {
		t.Errorf("a batch of %d swaps, more than MaxSwapBatch", most)
	}
}

type maxBatchSpy struct {
	*batchSpy
	most *int64
}

func (b *maxBatchSpy) CompareAndSwapBatch(ctx context.Context, swaps []accountvault.Swap) ([]error, error) {
	*b.most = max(*b.most, int64(len(swaps)))
	return b.batchSpy.CompareAndSwapBatch(ctx, swaps)
}

// TestReviewWalkUntilBeforeAfter: a range whose Until sorts before its
// After (an operator swapping two boundaries, or resuming one range with
// another's Until) holds no row, and every walk over it reported success
// having seen nothing: Rewrap returned an empty report and no error, so
// the operator takes the range as done. Such options are a usage error.
func TestReviewWalkUntilBeforeAfter(t *testing.T) {
	env := avtest.New(t, "sqlite")
	k := genKeyring(t)
	s := newStore(t, env, k)
	for _, id := range []string{"a1", "m1", "z1"} {
		mustUpsert(t, s, account(id, "u", "github", id))
	}
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	reload(t, s, k)
	o := store.WalkOptions{After: "m", Until: "c"}
	if rep, err := admin(s).Rewrap(ctx, o); !errors.Is(err, accountvault.ErrInvalidArgument) {
		t.Errorf("Rewrap of (%q, %q]: %+v, %v; want an error wrapping ErrInvalidArgument", o.After, o.Until, rep.Progress, err)
	}
	if rep, err := admin(s).Check(ctx, o); !errors.Is(err, accountvault.ErrInvalidArgument) {
		t.Errorf("Check of (%q, %q]: %d rows, %v; want an error wrapping ErrInvalidArgument", o.After, o.Until, rep.Rows, err)
	}
	if rep, err := admin(s).EncryptLegacy(ctx, o); !errors.Is(err, accountvault.ErrInvalidArgument) {
		t.Errorf("EncryptLegacy of (%q, %q]: %+v, %v; want an error wrapping ErrInvalidArgument", o.After, o.Until, rep.Progress, err)
	}
	// An empty range that a finished range walk resumes from (After ==
	// Until, its last cursor) is still fine.
	if rep, err := admin(s).Rewrap(ctx, store.WalkOptions{After: "m1", Until: "m1"}); err != nil || rep.Seen != 0 {
		t.Errorf("Rewrap of (m1, m1]: %+v, %v; want nothing done and no error", rep.Progress, err)
	}
}

// TestReviewSQLiteBlobIDWalkNeverEnds: SQLite stores a BLOB in the TEXT id
// column as it is, and sorts every BLOB after every TEXT value. A database
// writer who turns one row's id into a BLOB (UPDATE ... SET id =
// CAST(id AS BLOB)) makes List return that row after the text ids of
// every page, with the cursor then set to its bytes, which sort before
// the text ids already walked: every walk (CheckKeys, and so Rewrap;
// Check; KeyUsage; EncryptLegacy) pages through the same rows again and
// again and never ends.
func TestReviewSQLiteBlobIDWalkNeverEnds(t *testing.T) {
	env := avtest.New(t, "sqlite")
	k := genKeyring(t)
	s := newStore(t, env, k)
	for _, id := range []string{"abc", "m1", "m2", "m3"} {
		mustUpsert(t, s, account(id, "u-"+id, "github", id))
	}
	env.Exec(t, `UPDATE {t} SET id = CAST(id AS BLOB) WHERE id = 'abc'`)
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pages := 0
	rep, err := admin(s).Check(c, store.WalkOptions{BatchSize: 10, Progress: func(store.Progress) { pages++ }})
	if errors.Is(err, context.DeadlineExceeded) || pages > 10 {
		t.Fatalf("Check over a table with one BLOB id: still walking after %d pages and %d rows (%v)", pages, rep.Rows, err)
	}
	// It stops at that row, naming it.
	var re *accountvault.RowError
	if !errors.As(err, &re) || re.ID != "abc" || !errors.Is(err, accountvault.ErrInvalidAccount) {
		t.Fatalf("Check over a table with one BLOB id: %v; want a *RowError naming row abc", err)
	}
}

// TestReviewWalkRangesBadTimes (held): rows SQLite cannot read (a TEXT
// updated_at) at range boundaries and mid-page are each seen exactly
// once, as failures, by range walks of every page size, and EncryptLegacy
// does not finish an adoption while one such row holds legacy plaintext.
func TestReviewWalkRangesBadTimes(t *testing.T) {
	var rows []avtest.Legacy
	for i := range 10 {
		id := fmt.Sprintf("t%02d", i)
		rows = append(rows, avtest.Legacy{ID: id, UserID: "u", ProviderID: "github", AccountID: "gh-" + id, AccessToken: "at-" + id, Password: ""})
	}
	env := avtest.NewAdopted(t, "sqlite", rows...)
	bad := map[string]bool{"t00": true, "t03": true, "t04": true, "t07": true, "t09": true}
	for id := range bad {
		env.Exec(t, `UPDATE {t} SET updated_at = 'soon' WHERE id = $1`, id)
	}
	// t05 holds '' as password, t06 NULL: both compare as empty.
	env.Exec(t, `UPDATE {t} SET password = '' WHERE id = 't05'`)
	k := genKeyring(t)
	s := newStore(t, env, k)
	for batch := 1; batch <= 4; batch++ {
		bounds := []string{"", "t03", "t035", "t07", "t09", ""}
		seen := map[string]int{}
		failed := 0
		for i := 0; i+1 < len(bounds); i++ {
			rep, err := admin(s).Check(ctx, store.WalkOptions{BatchSize: batch, After: bounds[i], Until: bounds[i+1]})
			if err != nil {
				t.Fatalf("Check batch %d (%q, %q]: %v", batch, bounds[i], bounds[i+1], err)
			}
			for _, f := range rep.Failures {
				seen[f.ID]++
			}
			failed += len(rep.Failures)
		}
		if failed != len(bad) {
			t.Errorf("batch %d: %d failures, want %d", batch, failed, len(bad))
		}
		for id := range bad {
			if seen[id] != 1 {
				t.Errorf("batch %d: unreadable row %s listed %d times", batch, id, seen[id])
			}
		}
	}
	rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{BatchSize: 3})
	if err != nil || rep.Finished || rep.Failed != len(bad) || rep.Rewritten != 10-len(bad) || rep.Conflicts != 0 {
		t.Fatalf("EncryptLegacy: %+v, finished %v, %v; want the readable rows sealed, the unreadable ones failed, not finished", rep.Progress, rep.Finished, err)
	}
}
