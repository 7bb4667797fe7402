// Package betterauthtest gives tests the better-auth fixture databases of
// testdata/betterauth: databases that better-auth 1.7.25 itself wrote
// (SQLite files and plain SQL dumps of Postgres databases), and the
// manifest of every test value written into them. testdata/betterauth/README.md
// describes them and how they are regenerated.
package betterauthtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/accountvault/accountvault/internal/pgtest"
)

// Manifest lists what the generator wrote into each fixture.
type Manifest struct {
	// BetterAuth is the version of better-auth that wrote the fixtures.
	BetterAuth string `json:"betterAuth"`
	// People are the users, by short name, with their passwords (null for
	// users who signed up through OAuth).
	People   map[string]Person `json:"people"`
	Fixtures []Fixture         `json:"fixtures"`
}

// Person is one user of the fixtures.
type Person struct {
	Email    string  `json:"email"`
	Password *string `json:"password"`
}

// Fixture is one database.
type Fixture struct {
	Name     string `json:"name"`     // "sqlite-plain", "postgres-versioned", ...
	Database string `json:"database"` // "sqlite" or "postgres"
	Variant  string `json:"variant"`  // "plain", "single" or "versioned"
	// File is the SQLite file or the SQL dump, in testdata/betterauth.
	File               string `json:"file"`
	BetterAuth         string `json:"betterAuth"`
	EncryptOAuthTokens bool   `json:"encryptOAuthTokens"`
	// Env is the configuration better-auth ran with last, as environment
	// variables.
	Env Env `json:"env"`
	// Phases are the configurations better-auth ran with, in order.
	Phases []Phase `json:"phases"`
	// StoredTypes are, per column of the account table, the types of the
	// stored values (SQLite's typeof, Postgres's pg_typeof).
	StoredTypes map[string][]string `json:"storedTypes"`
	// Schema is the catalog of the database, as the generator read it.
	Schema   json.RawMessage `json:"schema"`
	Accounts []Account       `json:"accounts"`
}

// Env holds better-auth's secret settings.
type Env struct {
	Secret  string `json:"BETTER_AUTH_SECRET"`
	Secrets string `json:"BETTER_AUTH_SECRETS"`
}

// Phase is one better-auth configuration the generator ran.
type Phase struct {
	EncryptOAuthTokens bool   `json:"encryptOAuthTokens"`
	Secret             string `json:"BETTER_AUTH_SECRET"`
	Secrets            string `json:"BETTER_AUTH_SECRETS"`
}

// Account is one row of the account table.
type Account struct {
	ID         string `json:"id"`
	User       string `json:"user"` // a key of Manifest.People
	UserID     string `json:"userId"`
	ProviderID string `json:"providerId"`
	AccountID  string `json:"accountId"`

	AccessToken  *Token `json:"accessToken"`
	RefreshToken *Token `json:"refreshToken"`
	IDToken      *Token `json:"idToken"`

	AccessTokenExpiresAt  *Stored `json:"accessTokenExpiresAt"`
	RefreshTokenExpiresAt *Stored `json:"refreshTokenExpiresAt"`
	Scope                 *Stored `json:"scope"`
	CreatedAt             *Stored `json:"createdAt"`
	UpdatedAt             *Stored `json:"updatedAt"`

	// Password is set for provider "credential".
	Password *Password `json:"password"`
}

// Token is a stored token and the plaintext it holds.
type Token struct {
	Plaintext string `json:"plaintext"`
	Stored    string `json:"stored"`
	// Form is "plaintext", "hex" (bare better-auth ciphertext) or "vN"
	// (a $ba$N$ envelope).
	Form string `json:"form"`
}

// Stored is a stored value as text (Postgres: cast to text), with its
// type.
type Stored struct {
	Stored string `json:"stored"`
	Type   string `json:"type"`
}

// Password is a credential row's password and its stored hash.
type Password struct {
	Plaintext string `json:"plaintext"`
	Stored    string `json:"stored"`
}

// Dir returns the directory testdata/betterauth of the module.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("betterauthtest: no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "betterauth")
}

// Load reads the manifest.
func Load(t testing.TB) *Manifest {
	t.Helper()
	m, err := ReadManifest()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ReadManifest reads the manifest, for callers without a testing.TB (test
// scripts).
func ReadManifest() (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(Dir(), "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("betterauthtest: manifest.json: %w", err)
	}
	if len(m.Fixtures) == 0 {
		return nil, errors.New("betterauthtest: manifest.json lists no fixture")
	}
	return &m, nil
}

// Fixture returns the fixture of that name, or fails t.
func (m *Manifest) Fixture(t testing.TB, name string) *Fixture {
	t.Helper()
	for i := range m.Fixtures {
		if m.Fixtures[i].Name == name {
			return &m.Fixtures[i]
		}
	}
	t.Fatalf("betterauthtest: no fixture %q", name)
	return nil
}

// CopySQLite copies the SQLite fixture f into a temporary directory of t
// and returns the copy's path, for a test to open and change.
func CopySQLite(t testing.TB, f *Fixture) string {
	t.Helper()
	if f.Database != "sqlite" {
		t.Fatalf("betterauthtest: %s is not a SQLite fixture", f.Name)
	}
	src, err := os.Open(filepath.Join(Dir(), f.File))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(t.TempDir(), f.File)
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// LoadPostgres loads the Postgres fixture f into a new schema of the test
// server (see package pgtest), dropped with its tables when t ends, and
// returns the schema's name: "batest_" and 16 random hex digits. The
// tables are account, session, "user" and verification, as better-auth
// created them.
func LoadPostgres(t testing.TB, f *Fixture) string {
	t.Helper()
	if f.Database != "postgres" {
		t.Fatalf("betterauthtest: %s is not a Postgres fixture", f.Name)
	}
	dump, err := os.ReadFile(filepath.Join(Dir(), f.File))
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.Pool(t) // skips (or fails under CI) when unreachable
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	schema := "batest_" + hex.EncodeToString(r[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("betterauthtest: dropping schema %s: %v", schema, err)
		}
	})
	// A connection of its own: the dump's SET statements stay on it.
	conn, err := pgx.Connect(ctx, pgtest.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SET search_path TO "+schema); err != nil {
		t.Fatal(err)
	}
	// Without arguments, Exec uses the simple protocol, which runs the
	// whole script.
	if _, err := conn.Exec(ctx, string(dump)); err != nil {
		t.Fatalf("betterauthtest: loading %s: %v", f.File, err)
	}
	return schema
}

// String returns the fixture's name.
func (f *Fixture) String() string { return f.Name }

// Tokens returns the non-nil tokens of a, by column name (accessToken,
// refreshToken, idToken).
func (a *Account) Tokens() map[string]*Token {
	out := map[string]*Token{}
	for col, tok := range map[string]*Token{"accessToken": a.AccessToken, "refreshToken": a.RefreshToken, "idToken": a.IDToken} {
		if tok != nil {
			out[col] = tok
		}
	}
	return out
}

// Label names an account row for test output: the user, the provider and
// the row id, never a value.
func (a *Account) Label() string {
	return fmt.Sprintf("%s/%s/%s", a.User, a.ProviderID, a.ID)
}
