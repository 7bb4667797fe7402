package betterauth_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/accountvault/accountvault/crypto/betterauth"
	"github.com/accountvault/accountvault/internal/betterauthtest"
	"github.com/accountvault/accountvault/internal/pgtest"
)

// The fixtures were written by better-auth 1.7.25 itself (see
// testdata/betterauth/README.md); the manifest lists each stored value and
// the token it holds.

func parseEnv(t *testing.T, env betterauthtest.Env) *betterauth.Secrets {
	t.Helper()
	s, err := betterauth.Parse(env.Secrets, env.Secret)
	if err != nil {
		t.Fatalf("Parse of the fixture's secrets: %v", err)
	}
	return s
}

// checkOpen opens tok.Stored with s and checks the result against the
// manifest: a value better-auth encrypted opens to its token; a value it
// stored in plaintext does not open, and is ErrNotBetterAuth unless it has
// the shape of ciphertext (a hex token).
func checkOpen(t *testing.T, s *betterauth.Secrets, where string, col string, tok *betterauthtest.Token) {
	t.Helper()
	got, err := s.Open([]byte(tok.Stored))
	if tok.Form == "plaintext" {
		want := betterauth.ErrNotBetterAuth
		if betterauth.LooksEncrypted([]byte(tok.Stored)) {
			want = betterauth.ErrBetterAuthDecrypt
		}
		if err == nil || !errors.Is(err, want) {
			t.Errorf("%s %s (plaintext, %d bytes): Open error %v, want %v", where, col, len(tok.Stored), err, want)
		}
		if got != nil {
			t.Errorf("%s %s (plaintext): Open returned %d bytes with its error", where, col, len(got))
		}
		return
	}
	if err != nil {
		t.Errorf("%s %s (%s): %v", where, col, tok.Form, err)
		return
	}
	if string(got) != tok.Plaintext {
		t.Errorf("%s %s (%s): opens to a different token (%d bytes, want %d)", where, col, tok.Form, len(got), len(tok.Plaintext))
	}
}

// TestFixtureManifest opens every token value of every fixture, as the
// manifest records it, with that fixture's secrets.
func TestFixtureManifest(t *testing.T) {
	m := betterauthtest.Load(t)
	if m.BetterAuth != "1.7.25" {
		t.Fatalf("fixtures of better-auth %s, want 1.7.25", m.BetterAuth)
	}
	forms := map[string]int{}
	for _, f := range m.Fixtures {
		t.Run(f.Name, func(t *testing.T) {
			s := parseEnv(t, f.Env)
			for _, a := range f.Accounts {
				for col, tok := range a.Tokens() {
					forms[f.Variant+"/"+tok.Form]++
					if col == "idToken" {
						// better-auth never encrypts ID tokens; a JWT
						// does not have the shape.
						if tok.Form != "plaintext" {
							t.Errorf("%s idToken stored as %s", a.Label(), tok.Form)
						}
						if _, err := s.Open([]byte(tok.Stored)); err != betterauth.ErrNotBetterAuth {
							t.Errorf("%s idToken: Open error %v, want ErrNotBetterAuth", a.Label(), err)
						}
						continue
					}
					checkOpen(t, s, a.Label(), col, tok)
				}
			}
		})
	}
	// The fixtures hold what the tests rely on: each variant's forms, on
	// both databases.
	for form, min := range map[string]int{
		"plain/plaintext": 2 * 15, "single/hex": 2 * 13,
		"versioned/hex": 2 * 5, "versioned/v1": 2 * 3, "versioned/v2": 2 * 5,
	} {
		if forms[form] < min {
			t.Errorf("the fixtures hold %d token values of form %s, want at least %d", forms[form], form, min)
		}
	}
	if forms["single/v1"]+forms["single/v2"]+forms["plain/hex"] != 0 {
		t.Errorf("unexpected forms: %v", forms)
	}
}

// storedTokens reads id and the three token columns of every row of the
// account table through q.
type storedRow struct {
	id     string
	tokens map[string]*string
}

func compareRows(t *testing.T, f *betterauthtest.Fixture, rows []storedRow) {
	t.Helper()
	byID := map[string]*betterauthtest.Account{}
	for i := range f.Accounts {
		byID[f.Accounts[i].ID] = &f.Accounts[i]
	}
	if len(rows) != len(f.Accounts) {
		t.Fatalf("%s: %d account rows, the manifest lists %d", f.Name, len(rows), len(f.Accounts))
	}
	s := parseEnv(t, f.Env)
	for _, r := range rows {
		a := byID[r.id]
		if a == nil {
			t.Fatalf("%s: row %s is not in the manifest", f.Name, r.id)
		}
		want := a.Tokens()
		for col, v := range r.tokens {
			tok := want[col]
			if (v == nil) != (tok == nil) || (v != nil && *v != tok.Stored) {
				t.Fatalf("%s: row %s column %s differs from the manifest", f.Name, a.Label(), col)
			}
			if v != nil && col != "idToken" {
				checkOpen(t, s, a.Label(), col, &betterauthtest.Token{Plaintext: tok.Plaintext, Stored: *v, Form: tok.Form})
			}
		}
	}
}

var tokenColumns = []string{"accessToken", "refreshToken", "idToken"}

// TestFixtureSQLite reads the values from the SQLite files themselves.
func TestFixtureSQLite(t *testing.T) {
	m := betterauthtest.Load(t)
	n := 0
	for _, f := range m.Fixtures {
		if f.Database != "sqlite" {
			continue
		}
		n++
		t.Run(f.Name, func(t *testing.T) {
			u := url.URL{Scheme: "file", Path: filepath.Join(betterauthtest.Dir(), f.File), RawQuery: "mode=ro&_pragma=query_only(1)"}
			db, err := sql.Open("sqlite", u.String())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, err := db.QueryContext(t.Context(), `SELECT id, "accessToken", "refreshToken", "idToken" FROM account`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []storedRow
			for rows.Next() {
				r := storedRow{tokens: map[string]*string{}}
				vals := make([]sql.NullString, 3)
				if err := rows.Scan(&r.id, &vals[0], &vals[1], &vals[2]); err != nil {
					t.Fatal(err)
				}
				for i, col := range tokenColumns {
					if vals[i].Valid {
						r.tokens[col] = &vals[i].String
					} else {
						r.tokens[col] = nil
					}
				}
				got = append(got, r)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			compareRows(t, &f, got)
		})
	}
	if n != 3 {
		t.Errorf("%d SQLite fixtures, want 3", n)
	}
}

// TestFixturePostgres loads each Postgres dump into a schema of the test
// server and reads the values back.
func TestFixturePostgres(t *testing.T) {
	m := betterauthtest.Load(t)
	pgtest.Pool(t) // skip early (or fail under CI) if the server is unreachable
	n := 0
	for _, f := range m.Fixtures {
		if f.Database != "postgres" {
			continue
		}
		n++
		t.Run(f.Name, func(t *testing.T) {
			schema := betterauthtest.LoadPostgres(t, &f)
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, pgtest.URL())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			rows, err := conn.Query(ctx, `SELECT id, "accessToken", "refreshToken", "idToken" FROM `+pgx.Identifier{schema, "account"}.Sanitize())
			if err != nil {
				t.Fatal(err)
			}
			var got []storedRow
			for rows.Next() {
				r := storedRow{tokens: map[string]*string{}}
				var a, b, c *string
				if err := rows.Scan(&r.id, &a, &b, &c); err != nil {
					t.Fatal(err)
				}
				r.tokens["accessToken"], r.tokens["refreshToken"], r.tokens["idToken"] = a, b, c
				got = append(got, r)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			compareRows(t, &f, got)
			// The columns and types better-auth created (README.md).
			var cols []string
			crow, err := conn.Query(ctx, `SELECT column_name || ' ' || data_type FROM information_schema.columns
				WHERE table_schema = $1 AND table_name = 'account' ORDER BY ordinal_position`, schema)
			if err != nil {
				t.Fatal(err)
			}
			for crow.Next() {
				var c string
				if err := crow.Scan(&c); err != nil {
					t.Fatal(err)
				}
				cols = append(cols, c)
			}
			if err := crow.Err(); err != nil {
				t.Fatal(err)
			}
			want := `id text, accountId text, providerId text, userId text, accessToken text, refreshToken text, idToken text, ` +
				`accessTokenExpiresAt timestamp with time zone, refreshTokenExpiresAt timestamp with time zone, scope text, password text, ` +
				`createdAt timestamp with time zone, updatedAt timestamp with time zone`
			if got := strings.Join(cols, ", "); got != want {
				t.Errorf("account columns:\n got %s\nwant %s", got, want)
			}
		})
	}
	if n != 3 {
		t.Errorf("%d Postgres fixtures, want 3", n)
	}
}
