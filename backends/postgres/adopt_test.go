package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/backendtest"
	"github.com/accountvault/accountvault/backends/postgres"
	"github.com/accountvault/accountvault/internal/pgtest"
)

// betterAuthTable returns the CREATE statements of the account table
// better-auth's Postgres migration makes (kysely: string is text, date is
// timestamptz; older releases used timestamp), with snake_case column
// names, its foreign key to a user table of its own and its user_id index.
// %[1]s is the account table, %[2]s the user table.
const betterAuthTable = `
	CREATE TABLE %[2]s ("id" text NOT NULL PRIMARY KEY, "name" text NOT NULL);
	CREATE TABLE %[1]s (
		"id" text NOT NULL PRIMARY KEY,
		"account_id" text NOT NULL,
		"provider_id" text NOT NULL,
		"user_id" text NOT NULL REFERENCES %[2]s ("id") ON DELETE CASCADE,
		"access_token" text,
		"refresh_token" text,
		"id_token" text,
		"access_token_expires_at" timestamptz,
		"refresh_token_expires_at" timestamp,
		"scope" text,
		"password" text,
		"created_at" timestamptz DEFAULT CURRENT_TIMESTAMP NOT NULL,
		"updated_at" timestamptz NOT NULL
	);
	CREATE INDEX %[1]s_user_id_better ON %[1]s ("user_id");`

const legacyColumns = `id, account_id, provider_id, user_id, access_token, refresh_token, id_token,
	access_token_expires_at, refresh_token_expires_at, scope, password, created_at, updated_at`

type legacyRow struct {
	insert string // the VALUES tuple, in legacyColumns order
	want   accountvault.SealedRow
}

func unix(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return time.Unix(t.Unix(), 0).UTC()
}

func unixp(s string) *time.Time {
	t := unix(s)
	return &t
}

// legacyRows hold plaintext tokens (ASCII and not), empty strings, NULLs,
// and times with milliseconds, with an offset, before 1970, and as a
// timestamp without time zone.
var legacyRows = []legacyRow{
	{
		`('a1', 'sub-1', 'google', 'u1', 'ya29.access-1', '1//refresh-1', 'eyJhbGciOi.id.sig',
			'2024-05-06T07:08:09.999Z', '2024-11-02 00:00:00.5', 'openid email', NULL,
			'2024-01-02T03:04:05.678Z', '2024-05-06T07:08:09Z')`,
		accountvault.SealedRow{ID: "a1", UserID: "u1", ProviderID: "google", AccountID: "sub-1",
			AccessToken: []byte("ya29.access-1"), RefreshToken: []byte("1//refresh-1"), IDToken: []byte("eyJhbGciOi.id.sig"),
			AccessTokenExpiresAt: unixp("2024-05-06T07:08:09Z"), RefreshTokenExpiresAt: unixp("2024-11-02T00:00:00Z"),
			Scope: "openid email", CreatedAt: unix("2024-01-02T03:04:05Z"), UpdatedAt: unix("2024-05-06T07:08:09Z")},
	},
	{
		`('a2', 'sub-2', 'github', 'u1', 'gho_tøkén-日本-🙂', NULL, '',
			NULL, NULL, '', '',
			'2023-12-31 23:59:59+00', '2024-01-01T01:30:00+02:00')`,
		accountvault.SealedRow{ID: "a2", UserID: "u1", ProviderID: "github", AccountID: "sub-2",
			AccessToken: []byte("gho_tøkén-日本-🙂"), CreatedAt: unix("2023-12-31T23:59:59Z"), UpdatedAt: unix("2023-12-31T23:30:00Z")},
	},
	{
		`('a3', 'u2', 'credential', 'u2', '', '', NULL,
			'1969-12-31T23:59:59.500Z', '1970-01-01 00:00:00', NULL, 'c2FsdA==:a2V5',
			'2024-02-29T12:00:00Z', '1969-07-20T20:17:40.999Z')`,
		accountvault.SealedRow{ID: "a3", UserID: "u2", ProviderID: "credential", AccountID: "u2",
			AccessTokenExpiresAt: unixp("1969-12-31T23:59:59Z"), RefreshTokenExpiresAt: unixp("1970-01-01T00:00:00Z"),
			Password: accountvault.NewSecret("c2FsdA==:a2V5"), CreatedAt: unix("2024-02-29T12:00:00Z"), UpdatedAt: unix("1969-07-20T20:17:40Z")},
	},
}

// legacyTable creates a better-auth table (with its user table, rows u1
// and u2) named by pgtest.Table, dropped when t ends, and inserts rows.
func legacyTable(t *testing.T, pool *pgxpool.Pool, rows []legacyRow) string {
	t.Helper()
	table := pgtest.Table(t)
	users := table + "_user"
	t.Cleanup(func() {
		// CASCADE drops the account table's foreign key, not the table.
		if _, err := pool.Exec(context.Background(), `DROP TABLE IF EXISTS `+users+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	if _, err := pool.Exec(t.Context(), fmt.Sprintf(betterAuthTable, table, users)+`;
		INSERT INTO `+users+` VALUES ('u1', 'one'), ('u2', 'two')`); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if _, err := pool.Exec(t.Context(), `INSERT INTO `+table+` (`+legacyColumns+`) VALUES `+r.insert); err != nil {
			t.Fatalf("inserting legacy row %s: %v", r.want.ID, err)
		}
	}
	return table
}

// snapshot returns the columns (types, nullability, defaults), indexes,
// constraints and every value of the table, equal only if nothing
// changed. It holds token values: compare it, never print it.
func snapshot(t *testing.T, pool *pgxpool.Pool, qualified string) string {
	t.Helper()
	var s string
	err := pool.QueryRow(t.Context(), `SELECT
		coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
				|| ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
			FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
			WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped), '') || E'\n' ||
		coalesce((SELECT string_agg(pg_get_indexdef(indexrelid), ', ' ORDER BY 1) FROM pg_index WHERE indrelid = $1::regclass), '') || E'\n' ||
		coalesce((SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), ', ' ORDER BY 1) FROM pg_constraint WHERE conrelid = $1::regclass), '')`,
		qualified).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	var data string
	if err := pool.QueryRow(t.Context(), `SELECT coalesce(string_agg(x::text, E'\n' ORDER BY x::text), '') FROM `+qualified+` x`).Scan(&data); err != nil {
		t.Fatal(err)
	}
	return s + "\n" + data
}

// accountvaultRows returns the rows that accountvault's own tables
// (accountvault_schema, accountvault_meta, on the search path) hold for
// table, or "" if there are none or the tables do not exist.
func accountvaultRows(t *testing.T, pool *pgxpool.Pool, table string) string {
	t.Helper()
	var out []string
	for _, vt := range []string{"accountvault_schema", "accountvault_meta"} {
		var exists bool
		if err := pool.QueryRow(t.Context(), `SELECT to_regclass($1) IS NOT NULL`, vt).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if !exists {
			continue
		}
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM `+vt+` WHERE table_name = $1`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("%d in %s", n, vt))
		}
	}
	return strings.Join(out, ", ")
}

func columnTypes(t *testing.T, pool *pgxpool.Pool, table string) map[string]string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT column_name::text, data_type::text || CASE WHEN is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END
		FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema()`, table)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for rows.Next() {
		var n, ty string
		if err := rows.Scan(&n, &ty); err != nil {
			t.Fatal(err)
		}
		types[n] = ty
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return types
}

func checkRows(t *testing.T, b accountvault.Backend, rows []legacyRow) {
	t.Helper()
	for _, r := range rows {
		got, err := b.FindByProvider(t.Context(), r.want.ProviderID, r.want.AccountID)
		if err != nil {
			t.Errorf("row %s: %v", r.want.ID, err)
			continue
		}
		if d := diffAccount(r.want, got); d != "" {
			t.Errorf("row %s reads back changed: %s", r.want.ID, d)
		}
	}
}

// diffAccount names the fields in which got differs from want, giving
// token and password lengths, not values.
func diffAccount(want, got accountvault.SealedRow) string {
	var d []string
	str := func(name, w, g string) {
		if w != g {
			d = append(d, fmt.Sprintf("%s %q, want %q", name, g, w))
		}
	}
	tok := func(name string, w, g []byte) {
		if !bytes.Equal(w, g) {
			d = append(d, fmt.Sprintf("%s of %d bytes, want %d bytes (values differ)", name, len(g), len(w)))
		}
	}
	sec := func(name string, w, g accountvault.Secret) {
		if !w.Equal(g) {
			d = append(d, fmt.Sprintf("%s of %d bytes, want %d bytes (values differ)", name, g.Len(), w.Len()))
		}
	}
	tm := func(name string, w, g *time.Time) {
		switch {
		case w == nil && g == nil:
		case w == nil || g == nil || !w.Equal(*g) || g.Location() != time.UTC:
			d = append(d, fmt.Sprintf("%s %v, want %v", name, g, w))
		}
	}
	str("ID", want.ID, got.ID)
	str("UserID", want.UserID, got.UserID)
	str("ProviderID", want.ProviderID, got.ProviderID)
	str("AccountID", want.AccountID, got.AccountID)
	tok("AccessToken", want.AccessToken, got.AccessToken)
	tok("RefreshToken", want.RefreshToken, got.RefreshToken)
	tok("IDToken", want.IDToken, got.IDToken)
	tm("AccessTokenExpiresAt", want.AccessTokenExpiresAt, got.AccessTokenExpiresAt)
	tm("RefreshTokenExpiresAt", want.RefreshTokenExpiresAt, got.RefreshTokenExpiresAt)
	str("Scope", want.Scope, got.Scope)
	sec("Password", want.Password, got.Password)
	tm("CreatedAt", &want.CreatedAt, &got.CreatedAt)
	tm("UpdatedAt", &want.UpdatedAt, &got.UpdatedAt)
	return strings.Join(d, "; ")
}

// TestMigrateRefusesForeignTable checks that Migrate, which applications
// run at every start, never adopts: it refuses a better-auth table with a
// *TableError naming Adopt and changes nothing. Adopt then adopts it, and
// Migrate accepts the result.
func TestMigrateRefusesForeignTable(t *testing.T) {
	pool := pgtest.Pool(t)
	table := legacyTable(t, pool, legacyRows)
	b, err := postgres.New(pool, postgres.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, pool, table)
	for range 2 {
		err := b.Migrate(t.Context())
		var te *postgres.TableError
		if !errors.Is(err, accountvault.ErrIncompatibleTable) || !errors.As(err, &te) || te.Table != table || te.Column != "" {
			t.Fatalf("Migrate of a better-auth table: %v; want a *TableError on the whole table", err)
		}
		if !strings.Contains(err.Error(), "Adopt") {
			t.Errorf("Migrate's refusal does not point to Adopt: %v", err)
		}
		if strings.Contains(err.Error(), "ya29") || strings.Contains(err.Error(), "refresh-1") {
			t.Error("the error contains a token")
		}
		if snapshot(t, pool, table) != before {
			t.Fatal("the refused Migrate changed the table")
		}
		if rows := accountvaultRows(t, pool, table); rows != "" {
			t.Errorf("the refused Migrate recorded the table: %s", rows)
		}
	}
	if ty := columnTypes(t, pool, table)["access_token"]; ty != "text" {
		t.Errorf("access_token is %s after the refused Migrate", ty)
	}
	if n, err := b.Count(t.Context()); err != nil || n != int64(len(legacyRows)) {
		t.Errorf("Count after the refused Migrate: %d, %v", n, err)
	}

	if err := b.Adopt(t.Context()); err != nil {
		t.Fatalf("Adopt after the refused Migrate: %v", err)
	}
	checkRows(t, b, legacyRows)
	adopted := snapshot(t, pool, table)
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate of the adopted table: %v", err)
	}
	if snapshot(t, pool, table) != adopted {
		t.Error("Migrate of the adopted table changed it")
	}
}

func TestAdoptBetterAuth(t *testing.T) {
	pool := pgtest.Pool(t)
	table := legacyTable(t, pool, legacyRows)
	b, err := postgres.New(pool, postgres.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	t.Logf("adopted %d rows in %v", len(legacyRows), time.Since(start).Round(time.Microsecond))
	checkRows(t, b, legacyRows)

	types := columnTypes(t, pool, table)
	for col, want := range map[string]string{
		"id": "text NOT NULL", "user_id": "text NOT NULL", "provider_id": "text NOT NULL", "account_id": "text NOT NULL",
		"access_token": "bytea", "refresh_token": "bytea", "id_token": "bytea",
		"access_token_expires_at": "bigint", "refresh_token_expires_at": "bigint",
		"scope": "text", "password": "text", "created_at": "bigint NOT NULL", "updated_at": "bigint NOT NULL",
	} {
		if types[col] != want {
			t.Errorf("column %s is %q, want %q", col, types[col], want)
		}
	}
	var emptyNull int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM `+table+` WHERE id IN ('a2', 'a3') AND id_token IS NULL AND (id = 'a2' OR access_token IS NULL)`).Scan(&emptyNull); err != nil || emptyNull != 2 {
		t.Errorf("empty tokens stored as NULL in %d of 2 rows, %v", emptyNull, err)
	}
	// The constraints: kept (primary key, foreign key), and added.
	var cons string
	if err := pool.QueryRow(t.Context(), `SELECT string_agg(contype::text, '' ORDER BY contype) FROM pg_constraint WHERE conrelid = $1::regclass`, table).Scan(&cons); err != nil || cons != "fpu" {
		t.Errorf("constraint types %q, %v; want a foreign key, the primary key, one unique", cons, err)
	}
	var defaults int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_attrdef WHERE adrelid = $1::regclass`, table).Scan(&defaults); err != nil || defaults != 0 {
		t.Errorf("%d defaults left, %v", defaults, err)
	}

	before := snapshot(t, pool, table)
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if snapshot(t, pool, table) != before {
		t.Error("Migrate after Adopt changed the table")
	}
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatal(err)
	}
	if snapshot(t, pool, table) != before {
		t.Error("a second Adopt changed the table")
	}

	old, err := b.FindByProvider(t.Context(), "github", "sub-2")
	if err != nil {
		t.Fatal(err)
	}
	sealed := old
	sealed.AccessToken, sealed.IDToken = []byte("\x00sealed-1"), []byte("\x00sealed-2")
	if err := b.CompareAndSwap(t.Context(), old, sealed); err != nil {
		t.Fatalf("CompareAndSwap of an adopted row: %v", err)
	}
	if err := b.CompareAndSwap(t.Context(), old, sealed); !errors.Is(err, accountvault.ErrConflict) {
		t.Errorf("stale CompareAndSwap: %v", err)
	}
	relink := legacyRows[0].want
	relink.ID, relink.AccessToken, relink.CreatedAt, relink.UpdatedAt = "other-id", []byte("new-token"), time.Time{}, time.Time{}
	got, err := b.Upsert(t.Context(), relink)
	if err != nil || got.ID != "a1" || !got.CreatedAt.Equal(legacyRows[0].want.CreatedAt) || string(got.AccessToken) != "new-token" {
		t.Errorf("Upsert over an adopted row: id %q, created %v, %v", got.ID, got.CreatedAt, err)
	}
	page, err := b.List(t.Context(), "a1", 5)
	if err != nil || len(page) != 2 || page[0].ID != "a2" || page[1].ID != "a3" {
		t.Errorf("List after a1: %d rows, %v", len(page), err)
	}
	if err := b.Unlink(t.Context(), "google", "sub-1"); err != nil {
		t.Error(err)
	}
	mine, err := b.FindForUser(t.Context(), "u1")
	if err != nil || len(mine) != 1 || mine[0].ID != "a2" {
		t.Errorf("FindForUser(u1) after Unlink: %d rows, %v", len(mine), err)
	}
	if n, err := b.Count(t.Context()); err != nil || n != 2 {
		t.Errorf("Count: %d, %v", n, err)
	}
}

// TestAdoptConformance runs the conformance suite over empty better-auth
// tables that Adopt adopted, without their foreign key to a user table
// (the suite's users do not exist).
func TestAdoptConformance(t *testing.T) {
	pool := pgtest.Pool(t)
	backendtest.Run(t, func(t *testing.T) accountvault.Backend {
		table := legacyTable(t, pool, nil)
		if _, err := pool.Exec(t.Context(), `ALTER TABLE `+table+` DROP CONSTRAINT `+table+`_user_id_fkey`); err != nil {
			t.Fatal(err)
		}
		b, err := postgres.New(pool, postgres.WithTable(table))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Adopt(t.Context()); err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestConvertResetsPool converts a table that the Backend, and other code
// on its pool of one connection, queried before: the statements pgx
// prepared then no longer fit the table, and Postgres would refuse each
// once ("cached plan must not change result type"). Adopt of a foreign
// table, and Migrate of a table an earlier release recorded at version 1,
// reset the pool, so that every method of the Backend, and the other
// code, work at once.
func TestConvertResetsPool(t *testing.T) {
	pgtest.Pool(t) // skip early if the server is unreachable
	const create = `CREATE TABLE %[1]s (
		id TEXT NOT NULL PRIMARY KEY, user_id TEXT NOT NULL, provider_id TEXT NOT NULL, account_id TEXT NOT NULL,
		access_token TEXT, refresh_token TEXT, id_token TEXT,
		access_token_expires_at BIGINT, refresh_token_expires_at BIGINT,
		scope TEXT, password TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
		UNIQUE (provider_id, account_id));
		CREATE INDEX ON %[1]s (user_id);
		INSERT INTO %[1]s VALUES ('a', 'u', 'p', 's', 'plain', NULL, NULL, NULL, NULL, NULL, NULL, 1, 2)`
	cases := []struct {
		name    string
		setup   string // %[1]s is the table
		convert func(*postgres.Backend, context.Context) error
	}{
		// A foreign table with an earlier schema: bigint times, text tokens.
		{"Adopt", create, (*postgres.Backend).Adopt},
		// The same table, recorded at version 1 by an earlier release,
		// which adopted tables without converting them.
		{"Migrate from version 1", `CREATE TABLE IF NOT EXISTS accountvault_schema (table_name TEXT NOT NULL PRIMARY KEY, version INTEGER NOT NULL);
			INSERT INTO accountvault_schema VALUES ('%[1]s', 1); ` + create, (*postgres.Backend).Migrate},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := pgxpool.ParseConfig(pgtest.URL())
			if err != nil {
				t.Fatal(err)
			}
			cfg.MaxConns = 1
			pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			table := pgtest.Table(t)
			if _, err := pool.Exec(t.Context(), fmt.Sprintf(c.setup, table)); err != nil {
				t.Fatal(err)
			}
			testStaleStatements(t, pool, table, c.convert)
		})
	}
}

// testStaleStatements runs, on pool, every statement of a Backend on table
// whose result holds a column that convert converts, and a statement of
// the application's own, then convert, then all of them again.
func testStaleStatements(t *testing.T, pool *pgxpool.Pool, table string, convert func(*postgres.Backend, context.Context) error) {
	b, err := postgres.New(pool, postgres.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := b.List(t.Context(), "", 10); err != nil || len(rows) != 1 {
		t.Fatalf("List before the conversion: %d rows, %v", len(rows), err)
	}
	if rows, err := b.FindForUser(t.Context(), "u"); err != nil || len(rows) != 1 {
		t.Fatalf("FindForUser before the conversion: %d rows, %v", len(rows), err)
	}
	if _, err := b.FindByProvider(t.Context(), "p", "s"); err != nil {
		t.Fatalf("FindByProvider before the conversion: %v", err)
	}
	if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "b", UserID: "u", ProviderID: "p", AccountID: "t",
		AccessToken: []byte("text"), CreatedAt: time.Unix(3, 0), UpdatedAt: time.Unix(4, 0)}); err != nil {
		t.Fatalf("Upsert before the conversion: %v", err)
	}
	appQuery := func() ([]string, error) {
		rows, err := pool.Query(t.Context(), `SELECT id, access_token FROM `+table+` WHERE user_id = $1 ORDER BY id`, "u")
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			var id string
			var tok any
			err := r.Scan(&id, &tok)
			return fmt.Sprintf("%s:%T", id, tok), err
		})
	}
	if got, err := appQuery(); err != nil || strings.Join(got, ",") != "a:string,b:string" {
		t.Fatalf("the application's query before the conversion: %q, %v", got, err)
	}

	if err := convert(b, t.Context()); err != nil {
		t.Fatal(err)
	}

	// Each at its first call after the conversion: without the reset,
	// Postgres refuses the statement prepared before.
	got, err := b.List(t.Context(), "", 10)
	if err != nil || len(got) != 2 || string(got[0].AccessToken) != "plain" || string(got[1].AccessToken) != "text" {
		t.Errorf("List after the conversion: %d rows, %v", len(got), err)
	}
	if rows, err := b.FindForUser(t.Context(), "u"); err != nil || len(rows) != 2 || string(rows[0].AccessToken) != "plain" {
		t.Errorf("FindForUser after the conversion: %d rows, %v", len(rows), err)
	}
	if r, err := b.FindByProvider(t.Context(), "p", "s"); err != nil || string(r.AccessToken) != "plain" {
		t.Errorf("FindByProvider after the conversion: %v", err)
	}
	if r, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "b", UserID: "u", ProviderID: "p", AccountID: "t",
		AccessToken: []byte("\x00sealed"), CreatedAt: time.Unix(3, 0), UpdatedAt: time.Unix(5, 0)}); err != nil || string(r.AccessToken) != "\x00sealed" {
		t.Errorf("Upsert after the conversion: %v", err)
	}
	if got, err := appQuery(); err != nil || strings.Join(got, ",") != "a:[]uint8,b:[]uint8" {
		t.Errorf("the application's query after the conversion: %q, %v", got, err)
	}
}

// TestAdoptPylon adopts pylon's table, in a schema of its own: the same
// columns, with bigint and integer epoch seconds and text tokens, without a
// unique pair or a user_id index.
func TestAdoptPylon(t *testing.T) {
	pool := pgtest.Pool(t)
	schema := pgtest.Table(t) // a unique name; it is a schema here
	if _, err := pool.Exec(t.Context(), `CREATE SCHEMA `+schema+`;
		CREATE TABLE `+schema+`._pylon_accounts (
			id TEXT PRIMARY KEY, user_id TEXT NOT NULL, provider_id TEXT NOT NULL, account_id TEXT NOT NULL,
			access_token TEXT, refresh_token TEXT, id_token TEXT,
			access_token_expires_at BIGINT, refresh_token_expires_at INTEGER,
			scope TEXT, password TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
		INSERT INTO `+schema+`._pylon_accounts VALUES
			('p1', 'u1', 'github', '42', 'gho_abc', NULL, NULL, 1714979289, 1714979290, 'repo', NULL, 1700000000, 1700000001)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	b, err := postgres.New(pool, postgres.WithSchema(schema), postgres.WithTable("_pylon_accounts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Migrate(t.Context()); !errors.Is(err, accountvault.ErrIncompatibleTable) {
		t.Fatalf("Migrate of pylon's table: %v, want ErrIncompatibleTable", err)
	}
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkRows(t, b, []legacyRow{{want: accountvault.SealedRow{ID: "p1", UserID: "u1", ProviderID: "github", AccountID: "42",
		AccessToken: []byte("gho_abc"), AccessTokenExpiresAt: unixp("2024-05-06T07:08:09Z"), RefreshTokenExpiresAt: unixp("2024-05-06T07:08:10Z"),
		Scope: "repo", CreatedAt: time.Unix(1700000000, 0).UTC(), UpdatedAt: time.Unix(1700000001, 0).UTC()}}})
	var indexes string
	if err := pool.QueryRow(t.Context(), `SELECT string_agg(indexname::text, ',' ORDER BY indexname) FROM pg_indexes
		WHERE schemaname = $1 AND tablename = '_pylon_accounts'`, schema).Scan(&indexes); err != nil ||
		indexes != "_pylon_accounts_pkey,_pylon_accounts_provider_id_account_id_key,_pylon_accounts_user_id_idx" {
		t.Errorf("indexes %q, %v", indexes, err)
	}
}

// TestMigrateFromVersion1 upgrades a table recorded at version 1 by an
// earlier release, which adopted tables without converting them.
func TestMigrateFromVersion1(t *testing.T) {
	pool := pgtest.Pool(t)
	table := pgtest.Table(t)
	if _, err := pool.Exec(t.Context(), `CREATE TABLE IF NOT EXISTS accountvault_schema (table_name TEXT NOT NULL PRIMARY KEY, version INTEGER NOT NULL);
		INSERT INTO accountvault_schema VALUES ('`+table+`', 1);
		CREATE TABLE `+table+` (
			id TEXT COLLATE "C" NOT NULL PRIMARY KEY, user_id TEXT NOT NULL, provider_id TEXT NOT NULL, account_id TEXT NOT NULL,
			access_token TEXT, refresh_token TEXT, id_token TEXT,
			access_token_expires_at BIGINT, refresh_token_expires_at BIGINT,
			scope TEXT, password TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
			UNIQUE (provider_id, account_id));
		CREATE INDEX ON `+table+` (user_id);
		INSERT INTO `+table+` VALUES ('a', 'u', 'p', 's', 'plain', '', NULL, NULL, NULL, NULL, NULL, 1, 2)`); err != nil {
		t.Fatal(err)
	}
	b, err := postgres.New(pool, postgres.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkRows(t, b, []legacyRow{{want: accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s",
		AccessToken: []byte("plain"), CreatedAt: time.Unix(1, 0).UTC(), UpdatedAt: time.Unix(2, 0).UTC()}}})
	if ty := columnTypes(t, pool, table)["refresh_token"]; ty != "bytea" {
		t.Errorf("refresh_token is %s", ty)
	}
	var version int
	if err := pool.QueryRow(t.Context(), `SELECT version FROM accountvault_schema WHERE table_name = $1`, table).Scan(&version); err != nil || version != postgres.SchemaVersion {
		t.Errorf("recorded version %d, %v", version, err)
	}
}

// TestAdoptKeepsOurSchema adopts a table that already has the schema
// Migrate creates, but that Migrate did not create: Migrate refuses it all
// the same, and Adopt changes nothing.
func TestAdoptKeepsOurSchema(t *testing.T) {
	pool := pgtest.Pool(t)
	table := pgtest.Table(t)
	if _, err := pool.Exec(t.Context(), `CREATE TABLE `+table+` (
			id TEXT NOT NULL PRIMARY KEY, user_id TEXT NOT NULL, provider_id TEXT NOT NULL, account_id TEXT NOT NULL,
			access_token BYTEA, refresh_token BYTEA, id_token BYTEA,
			access_token_expires_at BIGINT, refresh_token_expires_at BIGINT,
			scope TEXT, password TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL DEFAULT 0,
			UNIQUE (account_id, provider_id));
		CREATE INDEX ON `+table+` (user_id, created_at);
		INSERT INTO `+table+` VALUES ('a', 'u', 'p', 's', '\x01', NULL, NULL, NULL, NULL, NULL, NULL, 1, 2)`); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, pool, table)
	b, err := postgres.New(pool, postgres.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Migrate(t.Context()); !errors.Is(err, accountvault.ErrIncompatibleTable) {
		t.Fatalf("Migrate of a table it did not create: %v, want ErrIncompatibleTable", err)
	}
	if snapshot(t, pool, table) != before || accountvaultRows(t, pool, table) != "" {
		t.Error("the refused Migrate changed the database")
	}
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatal(err)
	}
	if snapshot(t, pool, table) != before {
		t.Error("Adopt changed a table that already had its schema")
	}
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate after Adopt: %v", err)
	}
}

func TestAdoptRefuses(t *testing.T) {
	pool := pgtest.Pool(t)
	const secret = "ya29.SECRET-token"
	// %[1]s is the table, %[2]s its user table.
	rows := `; INSERT INTO %[1]s (` + legacyColumns + `) VALUES
		('a1', 's1', 'google', 'u1', '` + secret + `', NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'),
		('a2', 's2', 'google', 'u1', '` + secret + `', NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z');
		UPDATE %[1]s SET `
	withRows := func(alter, set string) string {
		return betterAuthTable + `; INSERT INTO %[2]s VALUES ('u1', 'one'); ` + alter + rows + set + ` WHERE id = 'a2'`
	}
	plain := `CREATE TABLE %[2]s (id text); CREATE TABLE %[1]s (id TEXT, user_id TEXT, provider_id TEXT, account_id TEXT,
		access_token TEXT, refresh_token TEXT, id_token TEXT, access_token_expires_at BIGINT, refresh_token_expires_at BIGINT,
		scope TEXT, password TEXT, created_at BIGINT, updated_at BIGINT);
		INSERT INTO %[1]s VALUES ('a1', 'u', 'p', 's1', 'x', NULL, NULL, NULL, NULL, NULL, NULL, 1, 1), `
	cases := []struct {
		name, setup, column string
	}{
		{"missing column", strings.Replace(betterAuthTable, `"id_token" text,`, ``, 1), "id_token"},
		// Adopt renames better-auth's camelCase columns, then refuses the
		// table: the renames are rolled back with the rest.
		{"camelCase then refused", strings.NewReplacer(`"account_id"`, `"accountId"`, `"provider_id"`, `"providerId"`, `"user_id"`, `"userId"`,
			`"id_token" text,`, ``).Replace(betterAuthTable), "id_token"},
		{"uuid id", strings.Replace(betterAuthTable, "\"id\" text NOT NULL PRIMARY KEY,\n", "\"id\" uuid NOT NULL PRIMARY KEY,\n", 1), "id"},
		{"text time", strings.Replace(betterAuthTable, `"refresh_token_expires_at" timestamp`, `"refresh_token_expires_at" text`, 1), "refresh_token_expires_at"},
		{"infinite timestamp", withRows(``, `access_token_expires_at = 'infinity'`), "access_token_expires_at"},
		{"milliseconds", withRows(`ALTER TABLE %[1]s ALTER COLUMN refresh_token_expires_at TYPE bigint USING 0;`,
			`refresh_token_expires_at = 1700000000000`), "refresh_token_expires_at"},
		{"NULL created_at", withRows(`ALTER TABLE %[1]s ALTER COLUMN created_at DROP NOT NULL;`, `created_at = NULL`), "created_at"},
		{"duplicate pair", withRows(``, `account_id = 's1'`), "(provider_id, account_id)"},
		{"duplicate id", plain + `('a1', 'u', 'p', 's2', 'y', NULL, NULL, NULL, NULL, NULL, NULL, 1, 1)`, "id"},
		{"NULL user_id", plain + `('a2', NULL, 'p', 's2', 'y', NULL, NULL, NULL, NULL, NULL, NULL, 1, 1)`, "user_id"},
		{"view", `CREATE TABLE %[2]s (id text); CREATE VIEW %[1]s AS SELECT id FROM %[2]s`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			table := pgtest.Table(t)
			users := table + "_user"
			t.Cleanup(func() {
				// CASCADE drops the view too, before pgtest drops the table.
				if _, err := pool.Exec(context.Background(), `DROP TABLE IF EXISTS `+users+` CASCADE`); err != nil {
					t.Error(err)
				}
			})
			if _, err := pool.Exec(t.Context(), fmt.Sprintf(c.setup, table, users)); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, pool, table)
			b, err := postgres.New(pool, postgres.WithTable(table))
			if err != nil {
				t.Fatal(err)
			}
			// Migrate refuses every table it did not create, whole.
			err = b.Migrate(t.Context())
			var te *postgres.TableError
			if !errors.Is(err, accountvault.ErrIncompatibleTable) || !errors.As(err, &te) || te.Column != "" || te.Table != table {
				t.Fatalf("Migrate: %v; want a *TableError on the whole table", err)
			}
			err = b.Adopt(t.Context())
			if !errors.Is(err, accountvault.ErrIncompatibleTable) || !errors.As(err, &te) || te.Column != c.column || te.Table != table {
				t.Fatalf("Adopt: %v; want a *TableError on column %q", err, c.column)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Error("the error contains a token")
			}
			t.Logf("%v", err)
			if snapshot(t, pool, table) != before {
				t.Error("the refused Adopt changed the table")
			}
			if rows := accountvaultRows(t, pool, table); rows != "" {
				t.Errorf("the refused Adopt recorded the table: %s", rows)
			}
		})
	}
}

// TestAdoptRefusesDependentView converts a column a view depends on:
// Postgres refuses, and nothing changes.
func TestAdoptRefusesDependentView(t *testing.T) {
	pool := pgtest.Pool(t)
	table := legacyTable(t, pool, legacyRows[:1])
	view := table + "_v"
	if _, err := pool.Exec(t.Context(), `CREATE VIEW `+view+` AS SELECT id, access_token FROM `+table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP VIEW IF EXISTS `+view); err != nil {
			t.Error(err)
		}
	})
	before := snapshot(t, pool, table)
	b, err := postgres.New(pool, postgres.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	err = b.Adopt(t.Context())
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "converting the columns") {
		t.Fatalf("Adopt: %v; want Postgres's error converting the columns", err)
	}
	if snapshot(t, pool, table) != before {
		t.Error("the refused Adopt changed the table")
	}
	if rows := accountvaultRows(t, pool, table); rows != "" {
		t.Errorf("the refused Adopt recorded the table: %s", rows)
	}
}
