package postgres_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/backendtest"
	"github.com/accountvault/accountvault/backends/postgres"
	"github.com/accountvault/accountvault/internal/betterauthtest"
	"github.com/accountvault/accountvault/internal/pgtest"
)

// camelColumns are better-auth's names of the schema's columns.
var camelColumns = []string{"userId", "providerId", "accountId", "accessToken", "refreshToken", "idToken",
	"accessTokenExpiresAt", "refreshTokenExpiresAt", "createdAt", "updatedAt"}

// schemaColumns returns, for the columns of table in schema, their data
// type and nullability ("text NOT NULL").
func schemaColumns(t *testing.T, pool *pgxpool.Pool, schema, table string) map[string]string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT column_name::text, data_type::text || CASE WHEN is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END
		FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`, schema, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, ty string
		if err := rows.Scan(&n, &ty); err != nil {
			t.Fatal(err)
		}
		out[n] = ty
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// otherTables returns the rows of better-auth's tables other than
// account, equal only if nothing changed.
func otherTables(t *testing.T, pool *pgxpool.Pool, schema string) string {
	t.Helper()
	var out string
	if err := pool.QueryRow(t.Context(), `SELECT
		(SELECT string_agg(u::text, ';' ORDER BY u.id) FROM `+schema+`."user" u) ||
		(SELECT string_agg(s::text, ';' ORDER BY s.id) FROM `+schema+`.session s) ||
		coalesce((SELECT string_agg(v::text, ';' ORDER BY v.id) FROM `+schema+`.verification v), '')`).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAdoptBetterAuthFixture adopts, in place, the account table that
// better-auth 1.7.25 wrote (camelCase columns, timestamptz), as it is and
// with 1.7.0's issuer column (NOT NULL, unique with accountId): Adopt
// renames the columns, converts them, keeps better-auth's other columns
// and tables, and every value reads back as better-auth wrote it.
func TestAdoptBetterAuthFixture(t *testing.T) {
	pool := pgtest.Pool(t)
	f := betterauthtest.Load(t).Fixture(t, "postgres-plain")
	for _, issuer := range []bool{false, true} {
		name := "as-written"
		if issuer {
			name = "issuer"
		}
		t.Run(name, func(t *testing.T) {
			schema := betterauthtest.LoadPostgres(t, f)
			if issuer {
				if _, err := pool.Exec(t.Context(), `SET search_path TO `+schema+`;
					ALTER TABLE account ADD COLUMN issuer text;
					UPDATE account SET issuer = 'https://' || "providerId" || '.example';
					ALTER TABLE account ALTER COLUMN issuer SET NOT NULL;
					CREATE UNIQUE INDEX account_issuer_uidx ON account (issuer, "accountId");
					RESET search_path`); err != nil {
					t.Fatalf("adding the issuer column: %v", err)
				}
			}
			others := otherTables(t, pool, schema)
			b, err := postgres.New(pool, postgres.WithSchema(schema), postgres.WithTable("account"))
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Migrate(t.Context()); err == nil {
				t.Fatal("Migrate adopted better-auth's table")
			}
			if err := b.Adopt(t.Context()); err != nil {
				t.Fatalf("Adopt: %v", err)
			}
			cols := schemaColumns(t, pool, schema, "account")
			for _, c := range camelColumns {
				if _, ok := cols[c]; ok {
					t.Errorf("column %s kept its camelCase name", c)
				}
			}
			for _, c := range accountvault.Columns() {
				if _, ok := cols[c]; !ok {
					t.Errorf("no column %s after Adopt", c)
				}
			}
			betterauthtest.CheckAdopted(t, t.Context(), f, b)
			if otherTables(t, pool, schema) != others {
				t.Error("Adopt changed better-auth's other tables")
			}
			var indexes string
			if err := pool.QueryRow(t.Context(), `SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes
				WHERE schemaname = $1 AND tablename = 'account'`, schema).Scan(&indexes); err != nil {
				t.Fatal(err)
			}
			want := "account_pkey,account_provider_id_account_id_key,account_userId_idx"
			if issuer {
				want = "account_issuer_uidx," + want
				if cols["issuer"] != "text" {
					t.Errorf("issuer after Adopt: %q, want text, nullable", cols["issuer"])
				}
				var filled int
				if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM `+schema+`.account WHERE issuer = 'https://' || provider_id || '.example'`).Scan(&filled); err != nil || filled != len(f.Accounts) {
					t.Errorf("issuer kept in %d rows of %d, %v", filled, len(f.Accounts), err)
				}
			}
			if indexes != want {
				t.Errorf("indexes after adoption: %s, want %s", indexes, want)
			}
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
// better-auth 1.7.25's own account table, emptied and without its foreign
// key to "user" (the suite's users do not exist), adopted by Adopt.
func TestAdoptBetterAuthFixtureConformance(t *testing.T) {
	pool := pgtest.Pool(t)
	f := betterauthtest.Load(t).Fixture(t, "postgres-plain")
	backendtest.Run(t, func(t *testing.T) accountvault.Backend {
		schema := betterauthtest.LoadPostgres(t, f)
		if _, err := pool.Exec(t.Context(), `DELETE FROM `+schema+`.account;
			ALTER TABLE `+schema+`.account DROP CONSTRAINT "account_userId_fkey"`); err != nil {
			t.Fatal(err)
		}
		b, err := postgres.New(pool, postgres.WithSchema(schema), postgres.WithTable("account"))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Adopt(t.Context()); err != nil {
			t.Fatal(err)
		}
		return b
	})
}
