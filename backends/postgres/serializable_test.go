package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/backendtest"
	"github.com/accountvault/accountvault/internal/pgtest"
)

// serializablePool returns a pool on the test server whose sessions run
// every transaction SERIALIZABLE (set through the URL, as a deployment on a
// serializable engine would be), and checks that the setting took.
func serializablePool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pgtest.Pool(t) // skip early (or fail under CI=true) if unreachable
	u, err := url.Parse(pgtest.URL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("default_transaction_isolation", "serializable")
	u.RawQuery = q.Encode()
	pool, err := pgxpool.New(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var level string
	if err := pool.QueryRow(t.Context(), `SHOW default_transaction_isolation`).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "serializable" {
		t.Fatalf("default_transaction_isolation is %q, want serializable", level)
	}
	return pool
}

// TestConformanceSerializable runs the conformance suite with every
// transaction SERIALIZABLE: the retry paths of a serializable engine, on
// the server we have.
func TestConformanceSerializable(t *testing.T) {
	pool := serializablePool(t)
	backendtest.Run(t, func(t *testing.T) accountvault.Backend { return newBackend(t, pool) })
}

// TestSerializationFailureRetried: under SERIALIZABLE, a write that waits on
// a row another transaction updates and commits fails with SQLSTATE 40001
// ("could not serialize access due to concurrent update"). The backend runs
// it again, so the caller sees its write succeed, once.
func TestSerializationFailureRetried(t *testing.T) {
	pool := serializablePool(t)
	b := newBackend(t, pool)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	row := accountvault.SealedRow{ID: "r", UserID: "u", ProviderID: "p", AccountID: "a", AccessToken: []byte{0xa7, 1}, Scope: "s0"}
	old, err := b.Upsert(ctx, row)
	if err != nil {
		t.Fatal(err)
	}

	// The control: the same race, run by hand, does fail with 40001, so
	// the backend below has something to retry.
	if code := raceAnUpdate(t, ctx, pool, b.Table(), func(ctx context.Context) error {
		_, err := pool.Exec(ctx, `UPDATE "`+b.Table()+`" SET scope = 'mine' WHERE id = 'r'`)
		return err
	}); code != "40001" {
		t.Fatalf("the race by hand ended with SQLSTATE %q, want 40001: the test does not make a serialization failure", code)
	}

	cur, err := b.FindByProvider(ctx, "p", "a")
	if err != nil {
		t.Fatal(err)
	}
	n := row
	n.AccessToken, n.Scope = []byte{0xa7, 2}, "refreshed"
	if code := raceAnUpdate(t, ctx, pool, b.Table(), func(ctx context.Context) error {
		// A full-row Upsert (not a compare-and-swap, whose old values the
		// other transaction changes): it must win after a retry.
		_, err := b.Upsert(ctx, n)
		return err
	}); code != "" {
		t.Fatalf("Upsert under a concurrent committed update: SQLSTATE %s, want success after a retry", code)
	}
	got, err := b.FindByProvider(ctx, "p", "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Scope != "refreshed" || got.ID != old.ID || got.CreatedAt != cur.CreatedAt {
		t.Fatalf("after the retried Upsert: scope %q id %q", got.Scope, got.ID)
	}
}

// raceAnUpdate opens a transaction that updates row r and holds it, runs
// write (which blocks on the row lock), commits the transaction, and
// returns write's SQLSTATE ("" for success).
func raceAnUpdate(t *testing.T, ctx context.Context, pool *pgxpool.Pool, table string, write func(context.Context) error) string {
	t.Helper()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE "`+table+`" SET updated_at = updated_at + 1 WHERE id = 'r'`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- write(ctx) }()
	// Let write reach the row lock, then commit under it.
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
	err = <-done
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return pe.Code
	}
	t.Fatalf("write: %v", err)
	return ""
}
