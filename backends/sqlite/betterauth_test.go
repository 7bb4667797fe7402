package sqlite_test

import (
	"database/sql"
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
