package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/pgtest"
)

// TestEngineError: the version strings of CockroachDB and YugabyteDB are
// refused with an error that names the engine and what Migrate needs;
// PostgreSQL's (and the test server's) are not.
func TestEngineError(t *testing.T) {
	for _, c := range []struct{ version, engine string }{
		{"CockroachDB CCL v25.2.1 (x86_64-pc-linux-gnu, built 2025/06/04 17:08:09, go1.23.7 X:nocoverageredesign)", "CockroachDB"},
		{"CockroachDB OSS v21.1.0 (x86_64-unknown-linux-gnu, built 2021/05/17 13:49:40, go1.15.11)", "CockroachDB"},
		{"PostgreSQL 11.2-YB-2.20.1.0-b0 on x86_64-pc-linux-gnu, compiled by clang version 16.0.6, 64-bit", "YugabyteDB"},
		{"PostgreSQL 15.2-YB-2.25.0.0-b0 on x86_64-pc-linux-gnu, compiled by clang version 17.0.6, 64-bit", "YugabyteDB"},
		{"PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14+deb12u1) 12.2.0, 64-bit", ""},
		{"PostgreSQL 16.3 on aarch64-unknown-linux-gnu, compiled by aarch64-unknown-linux-gnu-gcc (GCC) 9.5.0, 64-bit", ""}, // Aurora answers as PostgreSQL
	} {
		e := engineError(c.version)
		switch {
		case c.engine == "" && e != nil:
			t.Errorf("%q refused as %s", c.version, e.Engine)
		case c.engine != "" && (e == nil || e.Engine != c.engine):
			t.Errorf("%q: got %v, want %s refused", c.version, e, c.engine)
		case e != nil:
			var err error = e
			if !errors.Is(err, accountvault.ErrDatabaseSetup) || !strings.Contains(err.Error(), c.engine) ||
				!strings.Contains(err.Error(), "pg_advisory_xact_lock") || !strings.Contains(err.Error(), "transactional DDL") {
				t.Errorf("%s: error %q does not match ErrDatabaseSetup or does not say what Migrate needs", c.engine, err)
			}
		}
	}
	pool := pgtest.Pool(t)
	b, err := New(pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.checkEngine(t.Context(), "Migrate"); err != nil {
		t.Errorf("the test server is refused: %v", err)
	}
}

// TestMigrateRefusesEngine: Migrate on a server whose version() names
// CockroachDB (here the test server, with a version() function of our own
// ahead of pg_catalog on the search path) returns the EngineError and
// creates nothing.
func TestMigrateRefusesEngine(t *testing.T) {
	admin := pgtest.Pool(t)
	schema := pgtest.Table(t) // a fresh name, used here for a schema
	ctx := t.Context()
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	if _, err := admin.Exec(ctx, `CREATE FUNCTION `+schema+`.version() RETURNS text LANGUAGE sql
		AS $$ SELECT 'CockroachDB CCL v25.2.1 (x86_64-pc-linux-gnu, built 2025/06/04 17:08:09, go1.23.7)'::text $$`); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(pgtest.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema + ", pg_catalog"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b, err := New(pool, WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []func(context.Context) error{b.Migrate, b.Adopt} {
		err = run(ctx)
		var ee *EngineError
		if !errors.As(err, &ee) || ee.Engine != "CockroachDB" || !errors.Is(err, accountvault.ErrDatabaseSetup) {
			t.Fatalf("Migrate on a CockroachDB version(): %v, want an EngineError", err)
		}
	}
	var tables int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("the refused Migrate created %d tables", tables)
	}
}
