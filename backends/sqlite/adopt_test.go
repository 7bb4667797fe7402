package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/backendtest"
	"github.com/accountvault/accountvault/backends/sqlite"
)

// betterAuthTable is the account table better-auth's SQLite migration
// creates (kysely: string is text, date is date), with snake_case column
// names, its user_id index, and its foreign key to the user table.
const betterAuthTable = `
	CREATE TABLE "user" ("id" text NOT NULL PRIMARY KEY, "name" text NOT NULL);
	CREATE TABLE "account" (
		"id" text NOT NULL PRIMARY KEY,
		"account_id" text NOT NULL,
		"provider_id" text NOT NULL,
		"user_id" text NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE,
		"access_token" text,
		"refresh_token" text,
		"id_token" text,
		"access_token_expires_at" date,
		"refresh_token_expires_at" date,
		"scope" text,
		"password" text,
		"created_at" date DEFAULT CURRENT_TIMESTAMP NOT NULL,
		"updated_at" date NOT NULL
	);
	CREATE INDEX "account_userId_idx" ON "account" ("user_id");`

// legacyColumns are the columns of betterAuthTable, in its order.
const legacyColumns = `id, account_id, provider_id, user_id, access_token, refresh_token, id_token,
	access_token_expires_at, refresh_token_expires_at, scope, password, created_at, updated_at`

// legacyRow is one row as better-auth wrote it, and what it must read back
// as once adopted.
type legacyRow struct {
	insert string // the VALUES tuple, in betterAuthTable's column order
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

// legacyRows holds plaintext tokens (ASCII, non-ASCII, bytes that are not
// UTF-8 and a NUL), empty strings, NULLs, and times as better-auth's
// toISOString, as SQLite's CURRENT_TIMESTAMP, with an offset, before 1970,
// as integer epoch seconds and as a text of digits.
var legacyRows = []legacyRow{
	{
		`('a1', 'sub-1', 'google', 'u1', 'ya29.access-1', '1//refresh-1', 'eyJhbGciOi.id.sig',
			'2024-05-06T07:08:09.999Z', '2024-11-02T00:00:00.000Z', 'openid email', NULL,
			'2024-01-02T03:04:05.678Z', '2024-05-06T07:08:09.000Z')`,
		accountvault.SealedRow{ID: "a1", UserID: "u1", ProviderID: "google", AccountID: "sub-1",
			AccessToken: []byte("ya29.access-1"), RefreshToken: []byte("1//refresh-1"), IDToken: []byte("eyJhbGciOi.id.sig"),
			AccessTokenExpiresAt: unixp("2024-05-06T07:08:09Z"), RefreshTokenExpiresAt: unixp("2024-11-02T00:00:00Z"),
			Scope: "openid email", CreatedAt: unix("2024-01-02T03:04:05Z"), UpdatedAt: unix("2024-05-06T07:08:09Z")},
	},
	{
		`('a2', 'sub-2', 'github', 'u1', 'gho_tøkén-日本-🙂', NULL, '',
			NULL, NULL, '', '',
			'2023-12-31 23:59:59', '2024-01-01T01:30:00+02:00')`,
		accountvault.SealedRow{ID: "a2", UserID: "u1", ProviderID: "github", AccountID: "sub-2",
			AccessToken: []byte("gho_tøkén-日本-🙂"), CreatedAt: unix("2023-12-31T23:59:59Z"), UpdatedAt: unix("2023-12-31T23:30:00Z")},
	},
	{
		`('a3', 'u2', 'credential', 'u2', '', '', NULL,
			1714979289, '1714979290', NULL, 'c2FsdA==:a2V5',
			1700000000, '1969-12-31T23:59:59.500Z')`,
		accountvault.SealedRow{ID: "a3", UserID: "u2", ProviderID: "credential", AccountID: "u2",
			AccessTokenExpiresAt: unixp("2024-05-06T07:08:09Z"), RefreshTokenExpiresAt: unixp("2024-05-06T07:08:10Z"),
			Password: accountvault.NewSecret("c2FsdA==:a2V5"), CreatedAt: time.Unix(1700000000, 0).UTC(), UpdatedAt: time.Unix(-1, 0).UTC()},
	},
	{
		`('a4', 'sub-4', 'google', 'u2', CAST(X'ff00fe41' AS TEXT), X'00', X'',
			NULL, NULL, NULL, NULL,
			'2024-02-29T12:00:00Z', '2024-02-29T12:00:00Z')`,
		accountvault.SealedRow{ID: "a4", UserID: "u2", ProviderID: "google", AccountID: "sub-4",
			AccessToken: []byte("\xff\x00\xfeA"), RefreshToken: []byte("\x00"),
			CreatedAt: unix("2024-02-29T12:00:00Z"), UpdatedAt: unix("2024-02-29T12:00:00Z")},
	},
}

// openRaw opens a Backend on a new database file, with its pool for raw
// SQL, runs setup there and returns both. opts may name the table.
func openRaw(t *testing.T, setup string, opts ...sqlite.Option) (*sqlite.Backend, *sql.DB) {
	t.Helper()
	return openRawAt(t, filepath.Join(t.TempDir(), "auth.db"), setup, opts...)
}

// openRawAt is openRaw on the database at path, or ":memory:".
func openRawAt(t *testing.T, path, setup string, opts ...sqlite.Option) (*sqlite.Backend, *sql.DB) {
	t.Helper()
	b, err := sqlite.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	db := sqlite.DBForTest(b)
	if _, err := db.ExecContext(t.Context(), setup); err != nil {
		t.Fatalf("setting up the legacy table: %v", err)
	}
	return b, db
}

func insertLegacy(t *testing.T, db *sql.DB, table string, rows []legacyRow) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), `INSERT INTO "user" VALUES ('u1', 'one'), ('u2', 'two')`); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if _, err := db.ExecContext(t.Context(), `INSERT INTO `+table+` (`+legacyColumns+`) VALUES `+r.insert); err != nil {
			t.Fatalf("inserting legacy row %s: %v", r.want.ID, err)
		}
	}
}

// columnTypes returns the declared type of each column of table.
func columnTypes(t *testing.T, db *sql.DB, table string) map[string]string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT name, type FROM pragma_table_info(?)`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
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

// snapshot returns the whole schema of the database but accountvault's
// own tables (accountvault_schema, accountvault_meta) and every stored
// value of table, with its storage class, in a form that is equal only if
// nothing changed. It holds token values: compare it, never print it.
func snapshot(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var schema, data sql.NullString
	if err := db.QueryRowContext(t.Context(), `SELECT group_concat(type || ' ' || name || ' ' || rootpage || ' ' || coalesce(sql, ''), '; ')
		FROM (SELECT * FROM sqlite_schema WHERE tbl_name NOT IN ('accountvault_schema', 'accountvault_meta') ORDER BY type, name)`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for n := range columnTypes(t, db, table) {
		cols = append(cols, `typeof("`+n+`") || ':' || quote("`+n+`")`)
	}
	slices.Sort(cols)
	if err := db.QueryRowContext(t.Context(), `SELECT group_concat(v, '; ') FROM (SELECT `+strings.Join(cols, ` || ',' || `)+
		` AS v FROM `+table+` ORDER BY v)`).Scan(&data); err != nil {
		t.Fatal(err)
	}
	return schema.String + "\n" + data.String
}

// checkRows checks that every legacy row reads back through b as wanted.
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

// accountvaultTables returns the names of accountvault's own tables that
// the database holds.
func accountvaultTables(t *testing.T, db *sql.DB) string {
	t.Helper()
	var names sql.NullString
	if err := db.QueryRowContext(t.Context(), `SELECT group_concat(name, ',') FROM
		(SELECT name FROM sqlite_schema WHERE name IN ('accountvault_schema', 'accountvault_meta') ORDER BY name)`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	return names.String
}

// TestMigrateRefusesForeignTable checks that Migrate, which applications
// run at every start, never adopts: it refuses a better-auth table with a
// *TableError naming Adopt and changes nothing, not even by creating its
// own tables. Adopt then adopts it, and Migrate accepts the result.
func TestMigrateRefusesForeignTable(t *testing.T) {
	b, db := openRaw(t, betterAuthTable, sqlite.WithTable("account"))
	insertLegacy(t, db, "account", legacyRows)
	before := snapshot(t, db, "account")
	for range 2 {
		err := b.Migrate(t.Context())
		var te *sqlite.TableError
		if !errors.Is(err, accountvault.ErrIncompatibleTable) || !errors.As(err, &te) || te.Table != "account" || te.Column != "" {
			t.Fatalf("Migrate of a better-auth table: %v; want a *TableError on the whole table", err)
		}
		if !strings.Contains(err.Error(), "Adopt") {
			t.Errorf("Migrate's refusal does not point to Adopt: %v", err)
		}
		if strings.Contains(err.Error(), "ya29") || strings.Contains(err.Error(), "refresh-1") {
			t.Error("the error contains a token")
		}
		if snapshot(t, db, "account") != before {
			t.Fatal("the refused Migrate changed the table")
		}
		if names := accountvaultTables(t, db); names != "" {
			t.Errorf("the refused Migrate left accountvault's tables %s", names)
		}
	}
	if ty := columnTypes(t, db, "account")["access_token"]; !strings.EqualFold(ty, "text") {
		t.Errorf("access_token is %s after the refused Migrate", ty)
	}
	// The backend's own methods still read the unconverted table.
	if n, err := b.Count(t.Context()); err != nil || n != int64(len(legacyRows)) {
		t.Errorf("Count after the refused Migrate: %d, %v", n, err)
	}

	if err := b.Adopt(t.Context()); err != nil {
		t.Fatalf("Adopt after the refused Migrate: %v", err)
	}
	checkRows(t, b, legacyRows)
	adopted := snapshot(t, db, "account")
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate of the adopted table: %v", err)
	}
	if snapshot(t, db, "account") != adopted {
		t.Error("Migrate of the adopted table changed it")
	}
}

func TestAdoptBetterAuth(t *testing.T) {
	b, db := openRaw(t, betterAuthTable, sqlite.WithTable("account"))
	insertLegacy(t, db, "account", legacyRows)
	// A statement prepared before Adopt rebuilds the table.
	if n, err := b.Count(t.Context()); err != nil || n != int64(len(legacyRows)) {
		t.Fatalf("Count before Adopt: %d, %v", n, err)
	}

	start := time.Now()
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	t.Logf("adopted %d rows in %v", len(legacyRows), time.Since(start).Round(time.Microsecond))
	checkRows(t, b, legacyRows)

	types := columnTypes(t, db, "account")
	for col, want := range map[string]string{
		"id": "TEXT", "user_id": "TEXT", "provider_id": "TEXT", "account_id": "TEXT",
		"access_token": "BLOB", "refresh_token": "BLOB", "id_token": "BLOB",
		"access_token_expires_at": "INTEGER", "refresh_token_expires_at": "INTEGER",
		"scope": "TEXT", "password": "TEXT", "created_at": "INTEGER", "updated_at": "INTEGER",
	} {
		if types[col] != want {
			t.Errorf("column %s has type %q, want %s", col, types[col], want)
		}
	}
	// Stored values: every token a BLOB or, if it was empty, NULL; every
	// time an integer.
	var nonBlob, nonInt, emptyNull int
	if err := db.QueryRowContext(t.Context(), `SELECT
		count(*) FILTER (WHERE typeof(access_token) NOT IN ('blob', 'null') OR typeof(refresh_token) NOT IN ('blob', 'null')
			OR typeof(id_token) NOT IN ('blob', 'null')),
		count(*) FILTER (WHERE typeof(created_at) <> 'integer' OR typeof(updated_at) <> 'integer'
			OR typeof(access_token_expires_at) NOT IN ('integer', 'null') OR typeof(refresh_token_expires_at) NOT IN ('integer', 'null')),
		(SELECT count(*) FROM account WHERE id IN ('a2', 'a3', 'a4') AND id_token IS NULL)
		FROM account`).Scan(&nonBlob, &nonInt, &emptyNull); err != nil {
		t.Fatal(err)
	}
	if nonBlob != 0 || nonInt != 0 || emptyNull != 3 {
		t.Errorf("%d rows hold a token that is not a BLOB, %d a time that is not an integer; %d of 3 empty id_tokens are NULL", nonBlob, nonInt, emptyNull)
	}

	// What the rebuild keeps: the foreign key, better-auth's index; what
	// it adds: the unique pair.
	var fk string
	if err := db.QueryRowContext(t.Context(), `SELECT "table" || '.' || "to" || ' ' || on_delete
		FROM pragma_foreign_key_list('account') WHERE "from" = 'user_id'`).Scan(&fk); err != nil || fk != "user.id CASCADE" {
		t.Errorf("foreign key of user_id after the rebuild: %q, %v", fk, err)
	}
	var indexes string
	if err := db.QueryRowContext(t.Context(), `SELECT group_concat(name || ':' || "unique", ',') FROM
		(SELECT name, "unique" FROM pragma_index_list('account') ORDER BY name)`).Scan(&indexes); err != nil {
		t.Fatal(err)
	}
	if indexes != "account_provider_id_account_id_key:1,account_userId_idx:0,sqlite_autoindex_account_1:1" {
		t.Errorf("indexes after adoption: %s", indexes)
	}
	if n, err := b.Count(t.Context()); err != nil || n != int64(len(legacyRows)) {
		t.Errorf("Count after Adopt: %d, %v", n, err)
	}

	// Migrate, and Adopt again, change nothing.
	before := snapshot(t, db, "account")
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if snapshot(t, db, "account") != before {
		t.Error("Migrate after Adopt changed the table")
	}
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatal(err)
	}
	if snapshot(t, db, "account") != before {
		t.Error("a second Adopt changed the table")
	}
	var version int
	if err := db.QueryRowContext(t.Context(), `SELECT version FROM accountvault_schema WHERE table_name = 'account'`).Scan(&version); err != nil || version != sqlite.SchemaVersion {
		t.Errorf("recorded version %d, %v", version, err)
	}

	// The operations work on the adopted rows: EncryptLegacy's
	// compare-and-swap from a plaintext row, an upsert that re-links
	// (keeping id and created_at), paging, unlink.
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
	page, err := b.List(t.Context(), "a1", 2)
	if err != nil || len(page) != 2 || page[0].ID != "a2" || page[1].ID != "a3" {
		t.Errorf("List after a1: %d rows, %v", len(page), err)
	}
	if err := b.Unlink(t.Context(), "google", "sub-4"); err != nil {
		t.Error(err)
	}
	mine, err := b.FindForUser(t.Context(), "u2")
	if err != nil || len(mine) != 1 || mine[0].ID != "a3" {
		t.Errorf("FindForUser(u2) after Unlink: %d rows, %v", len(mine), err)
	}
}

// TestAdoptConformance runs the conformance suite over empty better-auth
// tables that Adopt adopted (in memory: the suite is the slowest test of
// the package, and TestConformanceFile covers the file).
func TestAdoptConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) accountvault.Backend {
		b, _ := openRawAt(t, ":memory:", betterAuthTable, sqlite.WithTable("account"))
		if err := b.Adopt(t.Context()); err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestAdoptPylon adopts pylon's table: the same columns, here with INTEGER
// epoch seconds (and one TEXT of digits) and TEXT tokens, without a unique
// pair or a user_id index.
func TestAdoptPylon(t *testing.T) {
	b, db := openRaw(t, `CREATE TABLE _pylon_accounts (
		id TEXT PRIMARY KEY, user_id TEXT NOT NULL, provider_id TEXT NOT NULL, account_id TEXT NOT NULL,
		access_token TEXT, refresh_token TEXT, id_token TEXT,
		access_token_expires_at INTEGER, refresh_token_expires_at TEXT,
		scope TEXT, password TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`,
		sqlite.WithTable("_pylon_accounts"))
	if _, err := db.ExecContext(t.Context(), `INSERT INTO _pylon_accounts VALUES
		('p1', 'u1', 'github', '42', 'gho_abc', NULL, NULL, 1714979289, '1714979290', 'repo', NULL, 1700000000, 1700000001)`); err != nil {
		t.Fatal(err)
	}
	if err := b.Migrate(t.Context()); !errors.Is(err, accountvault.ErrIncompatibleTable) {
		t.Fatalf("Migrate of pylon's table: %v, want ErrIncompatibleTable", err)
	}
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkRows(t, b, []legacyRow{{want: accountvault.SealedRow{ID: "p1", UserID: "u1", ProviderID: "github", AccountID: "42",
		AccessToken: []byte("gho_abc"), AccessTokenExpiresAt: unixp("2024-05-06T07:08:09Z"), RefreshTokenExpiresAt: unixp("2024-05-06T07:08:10Z"), Scope: "repo",
		CreatedAt: time.Unix(1700000000, 0).UTC(), UpdatedAt: time.Unix(1700000001, 0).UTC()}}})
	if ty := columnTypes(t, db, "_pylon_accounts")["access_token"]; ty != "BLOB" {
		t.Errorf("access_token is %s", ty)
	}
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM pragma_index_list('_pylon_accounts')
		WHERE name IN ('_pylon_accounts_provider_id_account_id_key', '_pylon_accounts_user_id_idx')`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d of the 2 indexes added, %v", n, err)
	}
}

// TestAdoptKeepsOurSchema adopts a table that already has the schema
// Migrate creates, but that Migrate did not create: Migrate refuses it
// all the same, and Adopt keeps it as it is, not rebuilt.
func TestAdoptKeepsOurSchema(t *testing.T) {
	b, db := openRaw(t, `CREATE TABLE accounts (
		id TEXT NOT NULL PRIMARY KEY, user_id TEXT NOT NULL, provider_id TEXT NOT NULL, account_id TEXT NOT NULL,
		access_token BLOB, refresh_token BLOB, id_token BLOB,
		access_token_expires_at INTEGER, refresh_token_expires_at INTEGER,
		scope TEXT, password TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
		UNIQUE (provider_id, account_id));
		CREATE INDEX accounts_by_user ON accounts (user_id, created_at);
		INSERT INTO accounts VALUES ('a', 'u', 'p', 's', X'01', NULL, NULL, NULL, NULL, NULL, NULL, 1, 2)`)
	before := snapshot(t, db, "accounts")
	if err := b.Migrate(t.Context()); !errors.Is(err, accountvault.ErrIncompatibleTable) {
		t.Fatalf("Migrate of a table it did not create: %v, want ErrIncompatibleTable", err)
	}
	if snapshot(t, db, "accounts") != before || accountvaultTables(t, db) != "" {
		t.Error("the refused Migrate changed the database")
	}
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatal(err)
	}
	if snapshot(t, db, "accounts") != before {
		t.Error("Adopt changed a table that already had its schema")
	}
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate after Adopt: %v", err)
	}
}

// TestMigrateFromVersion1 upgrades a table recorded at version 1 by an
// earlier release, which adopted tables without converting them.
func TestMigrateFromVersion1(t *testing.T) {
	b, db := openRaw(t, `CREATE TABLE accountvault_schema (table_name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE, version INTEGER NOT NULL);
		INSERT INTO accountvault_schema VALUES ('accounts', 1);
		CREATE TABLE accounts (
			id TEXT NOT NULL PRIMARY KEY, user_id TEXT NOT NULL, provider_id TEXT NOT NULL, account_id TEXT NOT NULL,
			access_token TEXT, refresh_token TEXT, id_token TEXT,
			access_token_expires_at INTEGER, refresh_token_expires_at INTEGER,
			scope TEXT, password TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
			UNIQUE (provider_id, account_id));
		CREATE INDEX accounts_user_id_idx ON accounts (user_id);
		INSERT INTO accounts VALUES ('a', 'u', 'p', 's', 'plain', '', NULL, NULL, NULL, NULL, NULL, 1, 2)`)
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkRows(t, b, []legacyRow{{want: accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s",
		AccessToken: []byte("plain"), CreatedAt: time.Unix(1, 0).UTC(), UpdatedAt: time.Unix(2, 0).UTC()}}})
	var typ string
	if err := db.QueryRowContext(t.Context(), `SELECT typeof(access_token) || '/' || typeof(refresh_token) FROM accounts`).Scan(&typ); err != nil || typ != "blob/null" {
		t.Errorf("stored tokens %s, %v; want blob/null", typ, err)
	}
	if ty := columnTypes(t, db, "accounts")["access_token"]; ty != "BLOB" {
		t.Errorf("access_token is %s", ty)
	}
}

// TestAdoptKeepsTheRest adopts a table with columns, a view, a trigger and
// a UNIQUE constraint of its own, and rows in a table that references it
// with ON DELETE CASCADE, over connections that enforce foreign keys.
func TestAdoptKeepsTheRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fk.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // Adopt's connection is the one checked below
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	table := strings.Replace(betterAuthTable, `"updated_at" date NOT NULL`,
		`"updated_at" date NOT NULL, "note" text NOT NULL DEFAULT (lower('N')), "email" text COLLATE NOCASE, UNIQUE ("email")`, 1)
	if _, err := db.ExecContext(t.Context(), table+`
		CREATE TABLE audit (account_id TEXT REFERENCES account (id) ON DELETE CASCADE, what TEXT);
		CREATE VIEW linked AS SELECT user_id, provider_id FROM account;
		CREATE TRIGGER account_audit AFTER DELETE ON account BEGIN INSERT INTO audit VALUES (NULL, old.id); END;`); err != nil {
		t.Fatal(err)
	}
	insertLegacy(t, db, "account", legacyRows[:2])
	if _, err := db.ExecContext(t.Context(), `UPDATE account SET note = 'kept', email = id || '@x';
		INSERT INTO audit VALUES ('a1', 'linked'), ('a2', 'linked')`); err != nil {
		t.Fatal(err)
	}
	b, err := sqlite.New(db, sqlite.WithTable("account"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkRows(t, b, legacyRows[:2])
	var fk, audits, notes, views int
	if err := db.QueryRowContext(t.Context(), `SELECT
		(SELECT foreign_keys FROM pragma_foreign_keys),
		(SELECT count(*) FROM audit WHERE what = 'linked'),
		(SELECT count(*) FROM account WHERE note = 'kept' AND email = id || '@x'),
		(SELECT count(*) FROM linked)`).Scan(&fk, &audits, &notes, &views); err != nil {
		t.Fatal(err)
	}
	if fk != 1 || audits != 2 || notes != 2 || views != 2 {
		t.Errorf("after adoption: foreign_keys %d (want 1), %d of 2 referencing rows, %d of 2 extra values, %d of 2 rows in the view", fk, audits, notes, views)
	}
	// The UNIQUE email index, the NOT NULL default and the trigger work.
	if _, err := db.ExecContext(t.Context(), `UPDATE account SET email = 'A1@X' WHERE id = 'a2'`); err == nil {
		t.Error("the unique index on email was lost")
	}
	if err := b.Unlink(t.Context(), "google", "sub-1"); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(t.Context(), `SELECT
		(SELECT count(*) FROM audit WHERE what = 'a1'),
		(SELECT count(*) FROM audit WHERE account_id = 'a1')`).Scan(&audits, &notes); err != nil {
		t.Fatal(err)
	}
	if audits != 1 || notes != 0 {
		t.Errorf("after Unlink: trigger rows %d (want 1), referencing rows left %d (want 0: ON DELETE CASCADE)", audits, notes)
	}
	if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "n", UserID: "u1", ProviderID: "p", AccountID: "s"}); err != nil {
		t.Errorf("Upsert relying on the extra column's default: %v", err)
	}
	var note string
	if err := db.QueryRowContext(t.Context(), `SELECT note FROM account WHERE id = 'n'`).Scan(&note); err != nil || note != "n" {
		t.Errorf("default of the extra column: %q, %v", note, err)
	}
	if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "m", UserID: "nobody", ProviderID: "p", AccountID: "t"}); err == nil {
		t.Error("Upsert of a row whose user does not exist: the foreign key is not enforced")
	}
}

// refusal is an existing table Adopt must refuse, naming column.
type refusal struct {
	name, setup, column string
}

func TestAdoptRefuses(t *testing.T) {
	const secret = "ya29.SECRET-token"
	row := func(set string) string {
		return strings.Replace(betterAuthTable, `"refresh_token" text`, `"refresh_token" blob`, 1) + `
			INSERT INTO "user" VALUES ('u1', 'one');
			INSERT INTO account VALUES ('a1', 's1', 'google', 'u1', '` + secret + `', NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-01T00:00:00Z', 1700000000),
				('a2', 's2', 'google', 'u1', '` + secret + `', NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-01T00:00:00Z', 1700000000);
			UPDATE account SET ` + set + ` WHERE id = 'a2';`
	}
	cases := []refusal{
		{"missing column", strings.Replace(betterAuthTable, `"id_token" text,`, ``, 1), "id_token"},
		// Adopt renames better-auth's camelCase columns, then refuses the
		// table: the renames are rolled back with the rest.
		{"camelCase then refused", strings.NewReplacer(`"account_id"`, `"accountId"`, `"provider_id"`, `"providerId"`, `"user_id"`, `"userId"`,
			`"access_token"`, `"accessToken"`, `"id_token" text,`, ``).Replace(betterAuthTable), "id_token"},
		{"number as token", row(`refresh_token = 12345`), "refresh_token"},
		{"unparsable date", row(`access_token_expires_at = 'soon'`), "access_token_expires_at"},
		{"'now' as a date", row(`access_token_expires_at = 'now'`), "access_token_expires_at"},
		{"milliseconds", row(`updated_at = 1700000000000`), "updated_at"},
		{"real time", row(`refresh_token_expires_at = 1700000000.5`), "refresh_token_expires_at"},
		{"empty created_at", row(`created_at = ''`), "created_at"},
		{"blob as an id", row(`user_id = X'75'`), "user_id"},
		{"duplicate pair", row(`account_id = 's1'`), "(provider_id, account_id)"},
		{"NULL in a required column", `CREATE TABLE account (id TEXT PRIMARY KEY, user_id TEXT, provider_id TEXT, account_id TEXT,
			access_token BLOB, refresh_token BLOB, id_token BLOB, access_token_expires_at INTEGER, refresh_token_expires_at INTEGER,
			scope TEXT, password TEXT, created_at INTEGER, updated_at INTEGER);
			INSERT INTO account VALUES ('a1', NULL, 'p', 's', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1, 1)`, "user_id"},
		{"duplicate id", `CREATE TABLE account (id TEXT, user_id TEXT, provider_id TEXT, account_id TEXT,
			access_token TEXT, refresh_token TEXT, id_token TEXT, access_token_expires_at INTEGER, refresh_token_expires_at INTEGER,
			scope TEXT, password TEXT, created_at INTEGER, updated_at INTEGER);
			INSERT INTO account VALUES ('a1', 'u', 'p', 's1', 'x', NULL, NULL, NULL, NULL, NULL, NULL, 1, 1),
				('a1', 'u', 'p', 's2', 'y', NULL, NULL, NULL, NULL, NULL, NULL, 1, 1)`, "id"},
		{"view", `CREATE TABLE t (x); CREATE VIEW account AS SELECT x FROM t`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, db := openRaw(t, c.setup, sqlite.WithTable("account"))
			before := snapshot(t, db, "account")
			// Migrate refuses every table it did not create, whole.
			err := b.Migrate(t.Context())
			var te *sqlite.TableError
			if !errors.Is(err, accountvault.ErrIncompatibleTable) || !errors.As(err, &te) || te.Column != "" || te.Table != "account" {
				t.Fatalf("Migrate: %v; want a *TableError on the whole table", err)
			}
			err = b.Adopt(t.Context())
			if !errors.Is(err, accountvault.ErrIncompatibleTable) || !errors.As(err, &te) || te.Column != c.column || te.Table != "account" {
				t.Fatalf("Adopt: %v; want a *TableError on column %q", err, c.column)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "SECRET") {
				t.Error("the error contains a token")
			}
			t.Logf("%v", err)
			if snapshot(t, db, "account") != before {
				t.Error("the refused Adopt changed the table")
			}
			if names := accountvaultTables(t, db); names != "" {
				t.Errorf("the refused Adopt left accountvault's tables %s", names)
			}
		})
	}
}

// TestAdoptCancelled cuts Adopt short at many points of a rebuild:
// nothing changes, and an Adopt given the time completes.
func TestAdoptCancelled(t *testing.T) {
	rows := 2000
	if raceEnabled {
		rows = 300
	}
	setup := betterAuthTable + `
		INSERT INTO "user" VALUES ('u', 'n');
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + fmt.Sprint(rows) + `)
		INSERT INTO account SELECT 'id' || i, 's' || i, 'p', 'u', 'token-' || i, NULL, NULL,
			'2024-01-01T00:00:00.000Z', NULL, NULL, NULL, '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z' FROM n;`
	// The schema, and that every row still holds its TEXT token and date.
	state := func(db *sql.DB) string {
		t.Helper()
		var schema string
		var n, legacy int
		if err := db.QueryRowContext(t.Context(), `SELECT
			(SELECT group_concat(type || name || rootpage || coalesce(sql, ''))
				FROM (SELECT * FROM sqlite_schema WHERE tbl_name <> 'accountvault_schema' ORDER BY name)),
			count(*), count(*) FILTER (WHERE typeof(access_token) = 'text' AND access_token = 'token-' || substr(id, 3)
				AND typeof(created_at) = 'text')
			FROM account`).Scan(&schema, &n, &legacy); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(schema, n, legacy)
	}
	var (
		b          *sqlite.Backend
		db         *sql.DB
		rebuilding int // Adopts cut short while rebuilding the table
	)
	// Timing is noisy: a round that never cuts into the rebuild is run
	// again, on a new table.
	for round := 0; round < 3 && rebuilding == 0; round++ {
		// How long a whole Adopt takes here and now, on a copy, both
		// connections warm.
		var probe *sqlite.Backend
		probe, _ = openRaw(t, setup, sqlite.WithTable("account"))
		b, db = openRaw(t, setup, sqlite.WithTable("account"))
		for _, be := range []*sqlite.Backend{probe, b} {
			if n, err := be.Count(t.Context()); err != nil || n != int64(rows) {
				t.Fatalf("Count: %d, %v", n, err)
			}
		}
		start := time.Now()
		if err := probe.Adopt(t.Context()); err != nil {
			t.Fatal(err)
		}
		full := time.Since(start)
		before := state(db)
		// Deadlines at every twentieth of that: the rebuild takes about
		// half.
		for i := 1; i < 20; i++ {
			d := full * time.Duration(i) / 20
			ctx, cancel := context.WithTimeout(t.Context(), d)
			err := b.Adopt(ctx)
			cancel()
			if err == nil {
				t.Logf("Adopt finished within %v of the %v a whole one took", d, full)
				break
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Adopt cut short after %v: %v", d, err)
			}
			if strings.Contains(err.Error(), "rebuilding the table") {
				rebuilding++
			}
			if state(db) != before {
				t.Fatalf("Adopt cut short after %v changed the table: %v", d, err)
			}
		}
	}
	if rebuilding == 0 {
		t.Error("no Adopt was cut short while it rebuilt the table: the test proves little")
	}
	t.Logf("%d Adopts cut short while rebuilding the table", rebuilding)
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatal(err)
	}
	var converted int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM account WHERE typeof(access_token) = 'blob'
		AND CAST(access_token AS TEXT) = 'token-' || substr(id, 3) AND created_at = 1704067200`).Scan(&converted); err != nil || converted != rows {
		t.Errorf("%d of %d rows converted, %v", converted, rows, err)
	}
}
