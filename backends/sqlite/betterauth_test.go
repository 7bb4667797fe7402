package sqlite_test

import (
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/backendtest"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/internal/betterauthtest"
)

// camelColumns are better-auth's names of the schema's columns.
var camelColumns = []string{"userId", "providerId", "accountId", "accessToken", "refreshToken", "idToken",
	"accessTokenExpiresAt", "refreshTokenExpiresAt", "createdAt", "updatedAt"}

// addIssuer gives the fixture's account table the issuer column of
// better-auth 1.7.0 to 1.7.2: TEXT NOT NULL without a default (which
// SQLite's ADD COLUMN cannot add: the table is rebuilt), filled, with a
// unique index on (issuer, accountId).
func addIssuer(t *testing.T, db *sql.DB) {
	t.Helper()
	var create string
	if err := db.QueryRowContext(t.Context(), `SELECT sql FROM sqlite_schema WHERE name = 'account'`).Scan(&create); err != nil {
		t.Fatal(err)
	}
	create = strings.Replace(create, `CREATE TABLE "account" (`, `CREATE TABLE "account_issuer" (`, 1)
	create = strings.TrimSuffix(create, ")") + `, "issuer" text not null)`
	for _, s := range []string{
		create,
		`INSERT INTO account_issuer SELECT *, 'https://' || providerId || '.example' FROM account`,
		`DROP TABLE account`,
		`ALTER TABLE account_issuer RENAME TO account`,
		`CREATE INDEX "account_userId_idx" on "account" ("userId")`,
		`CREATE UNIQUE INDEX "account_issuer_accountId_uidx" on "account" ("issuer", "accountId")`,
	} {
		if _, err := db.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("adding the issuer column: %v", err)
		}
	}
}

// otherTables returns the schema and the rows of better-auth's tables
// other than account, equal only if nothing changed.
func otherTables(t *testing.T, db *sql.DB) string {
	t.Helper()
	var out []string
	var schema string
	if err := db.QueryRowContext(t.Context(), `SELECT group_concat(type || ' ' || name || ' ' || coalesce(sql, ''), '; ')
		FROM (SELECT * FROM sqlite_schema WHERE tbl_name IN ('user', 'session', 'verification') ORDER BY type, name)`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	out = append(out, schema)
	for _, table := range []string{"user", "session", "verification"} {
		var data sql.NullString
		if err := db.QueryRowContext(t.Context(), `SELECT group_concat(v, '; ') FROM (SELECT quote(id) || quote(createdAt) || quote(updatedAt) AS v
			FROM "`+table+`" ORDER BY id)`).Scan(&data); err != nil {
			t.Fatal(err)
		}
		out = append(out, data.String)
	}
	return strings.Join(out, "\n")
}

// TestAdoptBetterAuthFixture adopts, in place, the account table that
// better-auth 1.7.25 wrote (camelCase columns, ISO-8601 text dates), as it
// is and with 1.7.0's issuer column: Adopt renames the columns, converts
// the values, keeps better-auth's other columns and tables, and every
// value reads back as better-auth wrote it.
func TestAdoptBetterAuthFixture(t *testing.T) {
	f := betterauthtest.Load(t).Fixture(t, "sqlite-plain")
	for _, issuer := range []bool{false, true} {
		name := "as-written"
		if issuer {
			name = "issuer"
		}
		t.Run(name, func(t *testing.T) {
			path := betterauthtest.CopySQLite(t, f)
			b, db := openRawAt(t, path, `SELECT 1`, sqlite.WithTable("account"))
			if issuer {
				addIssuer(t, db)
			}
			others := otherTables(t, db)
			if err := b.Migrate(t.Context()); err == nil {
				t.Fatal("Migrate adopted better-auth's table")
			}
			if err := b.Adopt(t.Context()); err != nil {
				t.Fatalf("Adopt: %v", err)
			}
			types := columnTypes(t, db, "account")
			for _, c := range camelColumns {
				if _, ok := types[c]; ok {
					t.Errorf("column %s kept its camelCase name", c)
				}
			}
			for _, c := range accountvault.Columns() {
				if _, ok := types[c]; !ok {
					t.Errorf("no column %s after Adopt", c)
				}
			}
			betterauthtest.CheckAdopted(t, t.Context(), f, b)
			if otherTables(t, db) != others {
				t.Error("Adopt changed better-auth's other tables")
			}
			var indexes string
			if err := db.QueryRowContext(t.Context(), `SELECT group_concat(name, ',') FROM
				(SELECT name FROM pragma_index_list('account') WHERE origin = 'c' ORDER BY name)`).Scan(&indexes); err != nil {
				t.Fatal(err)
			}
			want := "account_provider_id_account_id_key,account_userId_idx"
			if issuer {
				want = "account_issuer_accountId_uidx," + want
				if _, ok := types["issuer"]; !ok {
					t.Fatal("Adopt dropped the issuer column")
				}
				var filled int
				if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM account WHERE issuer = 'https://' || provider_id || '.example'`).Scan(&filled); err != nil || filled != len(f.Accounts) {
					t.Errorf("issuer kept in %d rows of %d, %v", filled, len(f.Accounts), err)
				}
			}
			if indexes != want {
				t.Errorf("indexes after adoption: %s, want %s", indexes, want)
			}
			// A new row: the backend writes the schema's columns only,
			// which an issuer column NOT NULL without a default would
			// refuse.
			now := time.Unix(1_800_000_000, 0).UTC()
			if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "new-row", UserID: f.Accounts[0].UserID,
				ProviderID: "acme", AccountID: "acme-sub-new", AccessToken: []byte("\x00sealed"), CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Errorf("Upsert of a new row into the adopted table: %v", err)
			}
			if n, err := b.Count(t.Context()); err != nil || n != int64(len(f.Accounts)+1) {
				t.Errorf("Count: %d, %v", n, err)
			}
		})
	}
}

// TestAdoptBetterAuthFixtureConformance runs the conformance suite over
// better-auth 1.7.25's own account table, emptied, adopted by Adopt.
func TestAdoptBetterAuthFixtureConformance(t *testing.T) {
	f := betterauthtest.Load(t).Fixture(t, "sqlite-plain")
	backendtest.Run(t, func(t *testing.T) accountvault.Backend {
		b, _ := openRawAt(t, betterauthtest.CopySQLite(t, f), `DELETE FROM account`, sqlite.WithTable("account"))
		if err := b.Adopt(t.Context()); err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestInvalidTimeRow writes, after adoption, times that are not epoch
// seconds into rows of better-auth's adopted table (as better-auth itself
// would write them, ISO-8601 text; an unparsable text; a REAL): each such
// row fails alone, as a *RowError wrapping ErrInvalidTime, and the other
// rows read on. ConvertTimes then converts the ISO-8601 value and an
// integer of epoch milliseconds, and refuses the others and an integer
// that may be seconds in the far future.
func TestInvalidTimeRow(t *testing.T) {
	f := betterauthtest.Load(t).Fixture(t, "sqlite-plain")
	b, db := openRawAt(t, betterauthtest.CopySQLite(t, f), `SELECT 1`, sqlite.WithTable("account"))
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatal(err)
	}
	byUser := map[string]*betterauthtest.Account{}
	for i := range f.Accounts {
		if f.Accounts[i].ProviderID != "credential" {
			byUser[f.Accounts[i].User] = &f.Accounts[i]
		}
	}
	iso, ms, bad, real, far := byUser["dave"], byUser["frank"], byUser["heidi"], byUser["grace"], byUser["erin"]
	for _, s := range []struct {
		sql string
		id  string
	}{
		{`UPDATE account SET updated_at = '2026-11-29T07:21:25.131Z' WHERE id = ?`, iso.ID},
		{`UPDATE account SET access_token_expires_at = 1780000000999 WHERE id = ?`, ms.ID},
		{`UPDATE account SET access_token_expires_at = 253402300799 WHERE id = ?`, far.ID}, // 9999-12-31 in seconds
		{`UPDATE account SET refresh_token_expires_at = 'soon' WHERE id = ?`, bad.ID},
		{`UPDATE account SET created_at = 1780000000.5 WHERE id = ?`, real.ID},
	} {
		if _, err := db.ExecContext(t.Context(), s.sql, s.id); err != nil {
			t.Fatal(err)
		}
	}
	// Integers are read as epoch seconds, whatever their size.
	failing := map[string]string{iso.ID: "updated_at", bad.ID: "refresh_token_expires_at", real.ID: "created_at"}

	// List, a page at a time: every row is either read or reported.
	seen := map[string]bool{}
	for after := ""; ; {
		page, err := b.List(t.Context(), after, 3)
		unread, ok := accountvault.RowErrors(err)
		if err != nil && !ok {
			t.Fatalf("List after %q: %v", after, err)
		}
		if err != nil && !errors.Is(err, accountvault.ErrInvalidTime) {
			t.Errorf("List's row errors do not match ErrInvalidTime: %v", err)
		}
		if len(page)+len(unread) == 0 {
			break
		}
		for _, r := range page {
			if _, bad := failing[r.ID]; bad {
				t.Errorf("List read row %s, which holds a bad time", r.ID)
			}
			seen[r.ID] = true
			after = max(after, r.ID)
		}
		for _, re := range unread {
			if failing[re.ID] != re.Column {
				t.Errorf("List: row %s column %q reported, want column %q", re.ID, re.Column, failing[re.ID])
			}
			seen[re.ID] = true
			after = max(after, re.ID)
		}
	}
	if len(seen) != len(f.Accounts) {
		t.Errorf("List saw %d rows, want %d", len(seen), len(f.Accounts))
	}
	_, err := b.FindByProvider(t.Context(), iso.ProviderID, iso.AccountID)
	var re *accountvault.RowError
	if !errors.Is(err, accountvault.ErrInvalidTime) || !errors.As(err, &re) || re.ID != iso.ID || re.Column != "updated_at" {
		t.Errorf("FindByProvider of a row with an ISO-8601 time: %v", err)
	}
	rows, err := b.FindForUser(t.Context(), iso.UserID)
	if _, ok := accountvault.RowErrors(err); !ok || len(rows) != 0 {
		t.Errorf("FindForUser of the row's user: %d rows, %v", len(rows), err)
	}

	converted, refused, err := b.ConvertTimes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if converted != 2 {
		t.Errorf("ConvertTimes converted %d values, want 2", converted)
	}
	got := map[string]string{}
	for _, re := range refused {
		if !errors.Is(re, accountvault.ErrInvalidTime) {
			t.Errorf("refused row %s: %v does not match ErrInvalidTime", re.ID, re)
		}
		got[re.ID] = re.Column
	}
	if len(got) != 3 || got[bad.ID] != "refresh_token_expires_at" || got[real.ID] != "created_at" || got[far.ID] != "access_token_expires_at" {
		t.Errorf("ConvertTimes refused %v, want heidi's refresh_token_expires_at, grace's created_at and erin's access_token_expires_at", got)
	}
	a, err := b.FindByProvider(t.Context(), iso.ProviderID, iso.AccountID)
	if err != nil || a.UpdatedAt.Unix() != time.Date(2026, 11, 29, 7, 21, 25, 0, time.UTC).Unix() {
		t.Errorf("the ISO-8601 time after ConvertTimes: %v, %v", a.UpdatedAt, err)
	}
	a, err = b.FindByProvider(t.Context(), ms.ProviderID, ms.AccountID)
	if err != nil || a.AccessTokenExpiresAt == nil || a.AccessTokenExpiresAt.Unix() != 1780000000 {
		t.Errorf("the millisecond time after ConvertTimes: %v, %v", a.AccessTokenExpiresAt, err)
	}
	// Converting again changes nothing and refuses the same rows.
	if n, again, err := b.ConvertTimes(t.Context()); err != nil || n != 0 || len(again) != 3 {
		t.Errorf("second ConvertTimes: %d converted, %d refused, %v", n, len(again), err)
	}
}

// TestConvertTimesStrict: ConvertTimes converts only dates that exist
// (strftime alone rolls 2026-02-30 over to March 2), with nothing or a
// 'T' or a space between date and time, and only to times the Backend
// reads; it lists the others and leaves them as they are.
func TestConvertTimesStrict(t *testing.T) {
	f := betterauthtest.Load(t).Fixture(t, "sqlite-plain")
	b, db := openRawAt(t, betterauthtest.CopySQLite(t, f), `SELECT 1`, sqlite.WithTable("account"))
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range f.Accounts {
		ids = append(ids, f.Accounts[i].ID)
	}
	slices.Sort(ids)
	values := []struct {
		v    string
		want int64 // 0: refused
	}{
		{"2026-02-30", 0},
		{"2026-05-0112:00", 0},
		{"9999-12-31", 0},
		{"2026-13-01T00:00:00Z", 0},
		{"2026-05-01", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Unix()},
		{"2026-05-01 12:00:00+02:00", time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC).Unix()},
		{"2024-02-29T23:59:59.999Z", time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC).Unix()},
	}
	if len(ids) < len(values) {
		t.Fatalf("the fixture has %d rows, want %d", len(ids), len(values))
	}
	for i, v := range values {
		if _, err := db.ExecContext(t.Context(), `UPDATE account SET updated_at = ? WHERE id = ?`, v.v, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	converted, refused, err := b.ConvertTimes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	refusedIDs := map[string]bool{}
	for _, re := range refused {
		refusedIDs[re.ID] = true
	}
	var wantConverted int64
	for i, v := range values {
		var typ, got string
		if err := db.QueryRowContext(t.Context(), `SELECT typeof(updated_at), CAST(updated_at AS TEXT) FROM account WHERE id = ?`, ids[i]).Scan(&typ, &got); err != nil {
			t.Fatal(err)
		}
		if v.want == 0 {
			if !refusedIDs[ids[i]] || typ != "text" || got != v.v {
				t.Errorf("%q: refused %v, now %s %q; want refused and left as it was", v.v, refusedIDs[ids[i]], typ, got)
			}
			continue
		}
		wantConverted++
		if refusedIDs[ids[i]] || typ != "integer" || got != strconv.FormatInt(v.want, 10) {
			t.Errorf("%q: refused %v, now %s %q; want converted to %d", v.v, refusedIDs[ids[i]], typ, got, v.want)
		}
	}
	if converted != wantConverted {
		t.Errorf("ConvertTimes converted %d values, want %d", converted, wantConverted)
	}
}
