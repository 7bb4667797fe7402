// Package pgtest connects tests to the Postgres server they run against.
//
// The server is named by the environment variable
// ACCOUNTVAULT_TEST_POSTGRES_URL, by default a local server with trust
// authentication. When it cannot be reached, tests are skipped, except
// when CI=true, where they fail: a CI run must not pass by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL is the environment variable holding the test server's URL.
const EnvURL = "ACCOUNTVAULT_TEST_POSTGRES_URL"

// EnvIsolation, if set, is the default_transaction_isolation that the
// server named by EnvURL must give its sessions ("serializable", say):
// Pool fails the test otherwise, so that a run meant to exercise an
// isolation level cannot silently run under another.
const EnvIsolation = "ACCOUNTVAULT_TEST_POSTGRES_ISOLATION"

// DefaultURL is used when EnvURL is unset or empty.
const DefaultURL = "postgres://root@127.0.0.1:5432/test?sslmode=disable"

// URL returns the test server's connection URL.
func URL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// unavailable skips t, or fails it when CI=true.
func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("Postgres test server unreachable (set %s; default %s): %v", EnvURL, DefaultURL, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Pool returns a new pool on the test server, closed when t ends. If the
// server cannot be reached, t is skipped (or, with CI=true, fails).
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, URL())
	if err != nil {
		unavailable(t, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		unavailable(t, err)
	}
	t.Cleanup(pool.Close)
	if want := os.Getenv(EnvIsolation); want != "" {
		var got string
		if err := pool.QueryRow(ctx, `SHOW default_transaction_isolation`).Scan(&got); err != nil {
			t.Fatalf("pgtest: reading default_transaction_isolation: %v", err)
		}
		if got != want {
			t.Fatalf("pgtest: %s=%s, but the server's sessions run %q (set it in %s, e.g. &options=-c%%20default_transaction_isolation%%3D%s)",
				EnvIsolation, want, got, EnvURL, want)
		}
	}
	return pool
}

// Table returns a table name no other test uses, and arranges for the
// table, and its rows in accountvault_schema and accountvault_meta, to be
// dropped when t ends.
// The name is "avtest_" and 16 random hex digits.
func Table(t testing.TB) string {
	t.Helper()
	pool := Pool(t)
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	name := "avtest_" + hex.EncodeToString(r[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := Drop(ctx, pool, "", name); err != nil {
			t.Errorf("pgtest: dropping table %s: %v", name, err)
		}
	})
	return name
}

// Drop drops table (in schema, or on the search path if schema is empty)
// and deletes its rows in that schema's accountvault_schema and
// accountvault_meta, if they exist.
func Drop(ctx context.Context, pool *pgxpool.Pool, schema, table string) error {
	qual := pgx.Identifier{table}
	if schema != "" {
		qual = pgx.Identifier{schema, table}
	}
	if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+qual.Sanitize()); err != nil {
		return err
	}
	for _, own := range []string{"accountvault_schema", "accountvault_meta"} {
		vt := pgx.Identifier{own}
		if schema != "" {
			vt = pgx.Identifier{schema, own}
		}
		var exists bool
		if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", vt.Sanitize()).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			continue
		}
		if _, err := pool.Exec(ctx, "DELETE FROM "+vt.Sanitize()+" WHERE table_name = $1", table); err != nil {
			return err
		}
	}
	return nil
}
