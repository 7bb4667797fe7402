package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// batchSpy is a backend that counts List calls and batches, and runs
// before before the batch whose swaps name row id, as if a concurrent
// write had come between the walk's read of the page and its write.
type batchSpy struct {
	accountvault.Backend
	accountvault.Metadata
	accountvault.BatchSwapper
	lists, batches, swaps, cas atomic.Int64
	id                         string
	once                       sync.Once
	before                     func()
	fail                       error // returned by the first batch, which then writes nothing
}

func (b *batchSpy) CompareAndSwap(ctx context.Context, old, new accountvault.SealedRow) error {
	b.cas.Add(1)
	return b.Backend.CompareAndSwap(ctx, old, new)
}

func newBatchSpy(t *testing.T, env *avtest.Env) *batchSpy {
	t.Helper()
	bs, ok := env.Backend.(accountvault.BatchSwapper)
	if !ok {
		t.Fatalf("the %s backend does not implement accountvault.BatchSwapper", env.Name)
	}
	return &batchSpy{Backend: env.Backend, Metadata: env.Backend.(accountvault.Metadata), BatchSwapper: bs, before: func() {}}
}

func (b *batchSpy) Table() string { return b.Backend.(accountvault.TableNamer).Table() }

func (b *batchSpy) List(ctx context.Context, after string, limit int) ([]accountvault.SealedRow, error) {
	b.lists.Add(1)
	return b.Backend.List(ctx, after, limit)
}

func (b *batchSpy) CompareAndSwapBatch(ctx context.Context, swaps []accountvault.Swap) ([]error, error) {
	if b.batches.Add(1) == 1 && b.fail != nil {
		return nil, b.fail
	}
	b.swaps.Add(int64(len(swaps)))
	for _, s := range swaps {
		if s.Old.ID == b.id {
			b.once.Do(b.before)
		}
	}
	return b.BatchSwapper.CompareAndSwapBatch(ctx, swaps)
}

// TestRewrapBatched: Rewrap writes a page of rows per CompareAndSwapBatch
// on both backends; a row that a concurrent write changes between the
// page's read and its write is left to that write and counted as a
// conflict, and the page's other rows are rewrapped.
func TestRewrapBatched(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		plain := newStore(t, env, k)
		const n = 25
		for i := range n {
			mustUpsert(t, plain, account(fmt.Sprintf("r%02d", i), "u", "github", fmt.Sprint("gh-", i)))
		}
		oldID := k.Primary()
		newID, err := k.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		reload(t, plain, k)
		spy := newBatchSpy(t, env)
		concurrent := account("r07", "u", "github", "gh-7")
		concurrent.AccessToken = accountvault.NewSecret("written meanwhile")
		spy.id = "r07"
		spy.before = func() { mustUpsert(t, plain, concurrent) }
		s, err := store.New(spy, kekOf(t, k), store.WithTable(env.Table), store.WithPasswordHasher(testHasher(t)))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := admin(s).Rewrap(ctx, store.WalkOptions{BatchSize: 10})
		if err != nil || rep.Seen != n || rep.Rewritten != n-1 || rep.Conflicts != 1 || rep.Failed != 0 {
			t.Fatalf("Rewrap: %+v, %v; want %d rewritten and the concurrently written row a conflict", rep.Progress, err, n-1)
		}
		if b, sw := spy.batches.Load(), spy.swaps.Load(); b != 3 || sw != n {
			t.Errorf("Rewrap ran %d batches of %d swaps in all, want 3 pages of at most 10 (%d swaps)", b, sw, n)
		}
		if got := mustFind(t, plain, "github", "gh-7"); !is(got.AccessToken, "written meanwhile") {
			t.Error("Rewrap overwrote the concurrent write")
		}
		usage, err := admin(plain).KeyUsage(ctx, store.WalkOptions{})
		if err != nil || usage[oldID] != 0 || usage[newID] != 3*n {
			t.Errorf("after Rewrap: usage %v, %v; want every value on key %d", usage, err, newID)
		}
		for i := range n {
			id := fmt.Sprintf("r%02d", i)
			if i != 7 {
				sameTokens(t, mustFind(t, plain, "github", fmt.Sprint("gh-", i)), account(id, "u", "github", fmt.Sprint("gh-", i)))
			}
		}
	})
}

// TestEncryptLegacyBatched: EncryptLegacy writes a page per batch on both
// backends, and a row changed by the adopted application between the
// page's read and its write is a conflict (the run does not finish the
// adoption).
func TestEncryptLegacyBatched(t *testing.T) {
	var rows []avtest.Legacy
	for i := range 12 {
		id := fmt.Sprintf("l%02d", i)
		rows = append(rows, avtest.Legacy{ID: id, UserID: "u", ProviderID: "github", AccountID: "gh-" + id, AccessToken: "at-" + id})
	}
	eachAdopted(t, rows, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		spy := newBatchSpy(t, env)
		spy.id = "l04"
		spy.before = func() { env.SetRaw(t, "l04", "access_token", []byte("at-l04-refreshed")) }
		s, err := store.New(spy, kekOf(t, k), store.WithTable(env.Table), store.WithPasswordHasher(testHasher(t)))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{BatchSize: 5})
		if err != nil || rep.Rewritten != 11 || rep.Sealed != 11 || rep.Conflicts != 1 || rep.Failed != 0 || rep.Finished {
			t.Fatalf("EncryptLegacy: %+v, %v; want 11 sealed, l04 a conflict, not finished", rep, err)
		}
		if b := spy.batches.Load(); b != 3 {
			t.Errorf("EncryptLegacy ran %d batches, want 3", b)
		}
		if got := env.Raw(t, "l04", "access_token"); string(got) != "at-l04-refreshed" {
			t.Error("EncryptLegacy overwrote the concurrent write")
		}
		rep, err = admin(newStore(t, env, k)).EncryptLegacy(ctx, store.WalkOptions{})
		if err != nil || rep.Rewritten != 1 || !rep.Finished {
			t.Fatalf("second EncryptLegacy: %+v, %v; want l04 sealed and the adoption finished", rep, err)
		}
	})
}

// TestWalkRanges: walks bounded by After and Until split the table so
// that every row is in exactly one range, whether the boundaries are ids
// of rows or fall between them, and Rewraps run concurrently over the
// ranges rewrap every row exactly once.
func TestWalkRanges(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		s := newStore(t, env, k)
		const n = 60
		for i := range n {
			mustUpsert(t, s, account(fmt.Sprintf("w%03d", i), "u", "github", fmt.Sprint("gh-", i)))
		}
		// Boundaries: a row's id (w013, which falls in the first range),
		// ids between rows, one past the end.
		bounds := []string{"", "w013", "w02", "w0405", "w059", "zz", ""}
		var ranges []store.WalkOptions
		for i := 0; i+1 < len(bounds); i++ {
			ranges = append(ranges, store.WalkOptions{BatchSize: 7, After: bounds[i], Until: bounds[i+1]})
		}
		seen := map[string]int{}
		for _, r := range ranges {
			var last store.Progress
			r.Progress = func(p store.Progress) { last = p }
			rep, err := admin(s).Check(ctx, r)
			if err != nil {
				t.Fatalf("Check of (%q, %q]: %v", r.After, r.Until, err)
			}
			for _, id := range idsIn(t, env, r.After, r.Until) {
				seen[id]++
			}
			if rep.Rows != len(idsIn(t, env, r.After, r.Until)) {
				t.Errorf("Check of (%q, %q]: %d rows, want %d", r.After, r.Until, rep.Rows, len(idsIn(t, env, r.After, r.Until)))
			}
			if r.Until != "" && last.Cursor > r.Until {
				t.Errorf("Check of (%q, %q] ended at cursor %q, past Until", r.After, r.Until, last.Cursor)
			}
		}
		if len(seen) != n {
			t.Errorf("the ranges cover %d of %d rows", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("row %s is in %d ranges", id, c)
			}
		}

		// Concurrent rewraps over the ranges.
		newID, err := k.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		reload(t, s, k)
		reps := make([]store.RewrapReport, len(ranges))
		errs := make([]error, len(ranges))
		var wg sync.WaitGroup
		for i, r := range ranges {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reps[i], errs[i] = admin(s).Rewrap(ctx, r)
			}()
		}
		wg.Wait()
		total := 0
		for i, rep := range reps {
			if errs[i] != nil || rep.Conflicts != 0 || rep.Failed != 0 || rep.Skipped != 0 {
				t.Errorf("Rewrap of range %d: %+v, %v", i, rep.Progress, errs[i])
			}
			total += rep.Rewritten
		}
		usage, err := admin(s).KeyUsage(ctx, store.WalkOptions{})
		if err != nil || total != n || usage[newID] != 3*n || len(usage) != 1 {
			t.Errorf("after the range rewraps: %d rows rewrapped, usage %v, %v; want all %d rows once, on key %d", total, usage, err, n, newID)
		}
		// A walk resumed from a range's cursor stays in the range.
		rep, err := admin(s).Check(ctx, store.WalkOptions{BatchSize: 4, After: "w030", Until: "w0405"})
		if err != nil || rep.Rows != 10 {
			t.Errorf("Check of (w030, w0405]: %d rows, %v; want 10", rep.Rows, err)
		}
	})
}

// idsIn returns the ids of env's table in (after, until] (until "" is no
// bound), read with raw SQL.
func idsIn(t *testing.T, env *avtest.Env, after, until string) []string {
	t.Helper()
	var out []string
	for _, r := range rawRows(t, env.Backend) {
		if r.ID > after && (until == "" || r.ID <= until) {
			out = append(out, r.ID)
		}
	}
	return out
}

// TestRewrapReusesKeyCheck: a Rewrap right after its Admin's CheckKeys
// passed reads the table once, not twice; after a keyring reload, or for
// a range the check did not cover, it checks again.
func TestRewrapReusesKeyCheck(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		plain := newStore(t, env, k)
		const n = 20
		for i := range n {
			mustUpsert(t, plain, account(fmt.Sprintf("c%02d", i), "u", "github", fmt.Sprint("gh-", i)))
		}
		if _, err := k.Rotate(); err != nil {
			t.Fatal(err)
		}
		spy := newBatchSpy(t, env)
		s, err := store.New(spy, kekOf(t, k), store.WithTable(env.Table), store.WithPasswordHasher(testHasher(t)))
		if err != nil {
			t.Fatal(err)
		}
		a := admin(s)
		const batch = 5 // 20 rows: 4 full pages and an empty one per walk
		if _, _, err := a.CheckKeys(ctx, store.WalkOptions{BatchSize: batch}); err != nil {
			t.Fatal(err)
		}
		spy.lists.Store(0)
		rep, err := a.Rewrap(ctx, store.WalkOptions{BatchSize: batch, After: "c04"})
		if err != nil || rep.Rewritten != 15 {
			t.Fatalf("Rewrap: %+v, %v", rep.Progress, err)
		}
		if got := spy.lists.Load(); got != 4 {
			t.Errorf("Rewrap after a passed CheckKeys made %d List calls, want 4 (one walk of 15 rows)", got)
		}
		if rep.KeyUsage[k.Primary()] != 0 || len(rep.KeyUsage) != 1 {
			t.Errorf("Rewrap's KeyUsage %v: want the check's count (every value on the old key)", rep.KeyUsage)
		}
		// Another keyring version: the check is not reused.
		if _, err := k.Rotate(); err != nil {
			t.Fatal(err)
		}
		reload(t, s, k)
		spy.lists.Store(0)
		if _, err := a.Rewrap(ctx, store.WalkOptions{BatchSize: batch}); err != nil {
			t.Fatal(err)
		}
		if got := spy.lists.Load(); got != 10 {
			t.Errorf("Rewrap after a reload made %d List calls, want 10 (a check and a walk)", got)
		}
		// A check of a range does not stand for a wider one.
		if _, err := k.Rotate(); err != nil {
			t.Fatal(err)
		}
		reload(t, s, k)
		if _, _, err := a.CheckKeys(ctx, store.WalkOptions{BatchSize: batch, After: "c09"}); err != nil {
			t.Fatal(err)
		}
		spy.lists.Store(0)
		if _, err := a.Rewrap(ctx, store.WalkOptions{BatchSize: batch}); err != nil {
			t.Fatal(err)
		}
		if got := spy.lists.Load(); got != 10 {
			t.Errorf("Rewrap of the whole table after a check of a range made %d List calls, want 10", got)
		}
		var keys []uint32
		for _, r := range rawRows(t, env.Backend) {
			id, err := envelope.KeyID(r.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, id)
		}
		for _, id := range keys {
			if id != k.Primary() {
				t.Fatalf("a value is on key %d after the last Rewrap, want %d", id, k.Primary())
			}
		}
	})
}

// TestRewrapBatchSerializationFailure: a page whose batch fails with a
// serialization failure (which wrote nothing) is written row by row; a
// batch that fails otherwise stops the walk, with its page unwritten.
func TestRewrapBatchSerializationFailure(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		plain := newStore(t, env, k)
		const n = 12
		for i := range n {
			mustUpsert(t, plain, account(fmt.Sprintf("s%02d", i), "u", "github", fmt.Sprint("gh-", i)))
		}
		if _, err := k.Rotate(); err != nil {
			t.Fatal(err)
		}
		run := func(fail error) (*batchSpy, store.RewrapReport, error) {
			spy := newBatchSpy(t, env)
			spy.fail = fail
			s, err := store.New(spy, kekOf(t, k), store.WithTable(env.Table), store.WithPasswordHasher(testHasher(t)))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := admin(s).Rewrap(ctx, store.WalkOptions{BatchSize: 5})
			return spy, rep, err
		}
		transient := fmt.Errorf("%s: CompareAndSwapBatch: connection reset: %w", env.Name, accountvault.ErrTransient)
		spy, rep, err := run(transient)
		if !errors.Is(err, accountvault.ErrTransient) || rep.Rewritten != 0 || rep.Cursor != "" || spy.cas.Load() != 0 {
			t.Fatalf("Rewrap with a failing batch: %+v, %v, %d single swaps; want it stopped before any write", rep.Progress, err, spy.cas.Load())
		}
		serialization := fmt.Errorf("%s: CompareAndSwapBatch: could not serialize: %w", env.Name,
			errors.Join(accountvault.ErrSerialization, accountvault.ErrTransient))
		spy, rep, err = run(serialization)
		if err != nil || rep.Rewritten != n || rep.Conflicts != 0 || rep.Failed != 0 {
			t.Fatalf("Rewrap with a batch that failed to serialize: %+v, %v; want every row rewrapped", rep.Progress, err)
		}
		if got := spy.cas.Load(); got != 5 {
			t.Errorf("%d single swaps, want the 5 of the page whose batch failed", got)
		}
		usage, err := admin(plain).KeyUsage(ctx, store.WalkOptions{})
		if err != nil || usage[k.Primary()] != 3*n {
			t.Errorf("after Rewrap: usage %v, %v", usage, err)
		}
	})
}
