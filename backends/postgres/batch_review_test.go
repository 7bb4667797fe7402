package postgres_test

// Adversarial review of CompareAndSwapBatch (one UPDATE ... FROM unnest):
// a write committed while the batch waits for the row's lock.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/pgtest"
)

// TestReviewBatchUnderRowLock (held): under READ COMMITTED, a transaction
// that holds a row of the batch and commits while the batch waits for it
// wins, whether it changed a token, or deleted the row and inserted it
// again with the same id and the same sealed values (ABA) and another
// scope; the batch's other rows are written, and NULL tokens in the batch
// (unnest NULL elements) compare as empty.
func TestReviewBatchUnderRowLock(t *testing.T) {
	pool := pgtest.Pool(t)
	for _, c := range []struct {
		name, sql string
		want      string // the row's scope afterwards
	}{
		{"token changed", `UPDATE %s SET access_token = '\xa7ff'::bytea, scope = 'theirs' WHERE id = 'r1'`, "theirs"},
		{"deleted and inserted again", `WITH d AS (DELETE FROM %[1]s WHERE id = 'r1' RETURNING *)
			INSERT INTO %[1]s SELECT id, user_id, provider_id, account_id, access_token, refresh_token, id_token,
				access_token_expires_at, refresh_token_expires_at, 'theirs', password, created_at, updated_at FROM d`, "theirs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBackend(t, pool)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var swaps []accountvault.Swap
			for i := range 3 {
				r := accountvault.SealedRow{ID: fmt.Sprint("r", i), UserID: "u", ProviderID: "p", AccountID: fmt.Sprint("a", i),
					AccessToken: []byte{0xa7, byte(i)}, Scope: "s0"} // refresh and id tokens NULL
				old, err := b.Upsert(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				n := old
				n.AccessToken, n.Scope = []byte{0xa7, 0x10, byte(i)}, "batch"
				swaps = append(swaps, accountvault.Swap{Old: old, New: n})
			}
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background()) //nolint:errcheck // after Commit, a no-op
			if _, err := tx.Exec(ctx, fmt.Sprintf(c.sql, `"`+b.Table()+`"`)); err != nil {
				t.Fatal(err)
			}
			type out struct {
				res []error
				err error
			}
			done := make(chan out, 1)
			go func() {
				res, err := b.CompareAndSwapBatch(ctx, swaps)
				done <- out{res, err}
			}()
			deadline := time.Now().Add(10 * time.Second)
			for {
				var waiting int
				if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&waiting); err != nil {
					t.Fatal(err)
				}
				if waiting > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			o := <-done
			if o.err != nil {
				t.Fatalf("CompareAndSwapBatch: %v", o.err)
			}
			if !errors.Is(o.res[1], accountvault.ErrConflict) || o.res[0] != nil || o.res[2] != nil {
				t.Fatalf("results %v: want r1 a conflict, r0 and r2 written", o.res)
			}
			got, err := b.FindByProvider(ctx, "p", "a1")
			if err != nil || got.Scope != c.want {
				t.Fatalf("r1 after the batch: scope %q, %v; want %q (the concurrent write)", got.Scope, err, c.want)
			}
			for _, i := range []int{0, 2} {
				got, err := b.FindByProvider(ctx, "p", fmt.Sprint("a", i))
				if err != nil || got.Scope != "batch" {
					t.Errorf("r%d after the batch: scope %q, %v; want the batch's", i, got.Scope, err)
				}
			}
		})
	}
}
