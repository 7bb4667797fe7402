// Package avtest gives the store's tests each real backend behind one
// interface: a fresh migrated table in a temporary SQLite file or on the
// Postgres test server (or a foreign table adopted by the backend's Adopt),
// plus raw SQL access to it for tampering and for reading what is really
// stored.
package avtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/postgres"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/internal/pgtest"
)

// Env is one backend with a fresh table: migrated and empty ([New]), or
// adopted from better-auth's shape ([NewAdopted]).
type Env struct {
	Name    string // "sqlite" or "postgres"
	Backend accountvault.Backend
	Table   string
	// DBFile is the SQLite database file ("" for Postgres).
	DBFile string

	migrate  func(ctx context.Context) error
	reopen   func(t testing.TB) accountvault.Backend
	exec     func(ctx context.Context, q string, args ...any) (int64, error)
	queryRow func(ctx context.Context, q string, args ...any) scanner
}

type scanner interface{ Scan(dest ...any) error }

// Kinds are the backend names, in the order Each runs them.
var Kinds = []string{"sqlite", "postgres"}

// Each runs fn as a subtest for each real backend.
func Each(t *testing.T, fn func(t *testing.T, env *Env)) {
	t.Helper()
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) { fn(t, New(t, kind)) })
	}
}

// New returns an Env of the given kind; resources are released when t ends.
// A Postgres server that does not answer skips t (fails it under CI=true).
func New(t testing.TB, kind string) *Env {
	t.Helper()
	e := open(t, kind)
	if err := e.migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return e
}

// Legacy is one row of a foreign table before adoption, as better-auth
// stores it: tokens and the password hash in text columns. An empty string
// is stored as NULL.
type Legacy struct {
	ID, UserID, ProviderID, AccountID  string
	AccessToken, RefreshToken, IDToken string
	Password                           string
}

// NewAdopted returns an Env whose table was created by raw SQL in
// better-auth's shape (text tokens and password, timestamp times), filled
// with rows, and then adopted with the backend's Adopt, as `accountvault
// migrate` does: the table is being adopted, and its tokens are legacy
// plaintext.
func NewAdopted(t testing.TB, kind string, rows ...Legacy) *Env {
	t.Helper()
	e := open(t, kind)
	timeType := "date" // SQLite keeps it as TEXT
	if kind == "postgres" {
		timeType = "timestamptz"
	}
	e.Exec(t, `CREATE TABLE {t} (
		"id" text NOT NULL PRIMARY KEY,
		"account_id" text NOT NULL,
		"provider_id" text NOT NULL,
		"user_id" text NOT NULL,
		"access_token" text,
		"refresh_token" text,
		"id_token" text,
		"access_token_expires_at" `+timeType+`,
		"refresh_token_expires_at" `+timeType+`,
		"scope" text,
		"password" text,
		"created_at" `+timeType+` DEFAULT CURRENT_TIMESTAMP NOT NULL,
		"updated_at" `+timeType+` NOT NULL
	)`)
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	for _, r := range rows {
		e.Exec(t, `INSERT INTO {t} (id, account_id, provider_id, user_id, access_token, refresh_token, id_token,
			scope, password, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'openid', $8,
			'2024-05-01T12:00:00.000Z', '2024-05-01T12:00:00.000Z')`,
			r.ID, r.AccountID, r.ProviderID, r.UserID, null(r.AccessToken), null(r.RefreshToken), null(r.IDToken), null(r.Password))
	}
	a, ok := e.Backend.(interface{ Adopt(context.Context) error })
	if !ok {
		t.Fatalf("avtest: the %s backend has no Adopt", kind)
	}
	if err := a.Adopt(context.Background()); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	return e
}

// open returns an Env of the given kind whose table is not created yet.
func open(t testing.TB, kind string) *Env {
	t.Helper()
	switch kind {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "accounts.db")
		b, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("closing sqlite backend: %v", err)
			}
		})
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatalf("opening raw sqlite handle: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return &Env{
			Name: kind, Backend: b, Table: b.Table(), DBFile: path,
			migrate: b.Migrate,
			reopen: func(t testing.TB) accountvault.Backend {
				b2, err := sqlite.Open(path)
				if err != nil {
					t.Fatalf("sqlite.Open: %v", err)
				}
				t.Cleanup(func() {
					if err := b2.Close(); err != nil {
						t.Errorf("closing sqlite backend: %v", err)
					}
				})
				return b2
			},
			exec: func(ctx context.Context, q string, args ...any) (int64, error) {
				r, err := db.ExecContext(ctx, sqliteParams(q), args...)
				if err != nil {
					return 0, err
				}
				return r.RowsAffected()
			},
			queryRow: func(ctx context.Context, q string, args ...any) scanner {
				return db.QueryRowContext(ctx, sqliteParams(q), args...)
			},
		}
	case "postgres":
		pool := pgtest.Pool(t)
		table := pgtest.Table(t)
		b, err := postgres.New(pool, postgres.WithTable(table))
		if err != nil {
			t.Fatalf("postgres.New: %v", err)
		}
		return &Env{
			Name: kind, Backend: b, Table: table,
			migrate: b.Migrate,
			reopen: func(t testing.TB) accountvault.Backend {
				b2, err := postgres.New(pgtest.Pool(t), postgres.WithTable(table))
				if err != nil {
					t.Fatalf("postgres.New: %v", err)
				}
				return b2
			},
			exec: func(ctx context.Context, q string, args ...any) (int64, error) {
				tag, err := pool.Exec(ctx, q, args...)
				return tag.RowsAffected(), err
			},
			queryRow: func(ctx context.Context, q string, args ...any) scanner {
				return pool.QueryRow(ctx, q, args...)
			},
		}
	}
	t.Fatalf("avtest: unknown backend %q", kind)
	return nil
}

// Reopen returns a second backend over the same table through its own
// connection pool, as another replica of the application would have.
func (e *Env) Reopen(t testing.TB) accountvault.Backend {
	t.Helper()
	return e.reopen(t)
}

var dollarParam = regexp.MustCompile(`\$(\d+)`)

// sqliteParams turns Postgres-style $N parameters into SQLite's ?N.
func sqliteParams(q string) string { return dollarParam.ReplaceAllString(q, "?$1") }

// q replaces {t} with the quoted table name.
func (e *Env) q(query string) string {
	return strings.ReplaceAll(query, "{t}", `"`+e.Table+`"`)
}

// Exec runs a raw statement, with {t} standing for the table and $N
// parameters, and returns the number of rows affected.
func (e *Env) Exec(t testing.TB, query string, args ...any) int64 {
	t.Helper()
	n, err := e.exec(context.Background(), e.q(query), args...)
	if err != nil {
		t.Fatalf("raw SQL %q: %v", query, err)
	}
	return n
}

// Raw returns the stored bytes of column col of row id.
func (e *Env) Raw(t testing.TB, id, col string) []byte {
	t.Helper()
	var v []byte
	if err := e.queryRow(context.Background(), e.q(fmt.Sprintf(`SELECT %s FROM {t} WHERE id = $1`, col)), id).Scan(&v); err != nil {
		t.Fatalf("reading %s of row %q: %v", col, id, err)
	}
	return v
}

// SetRaw stores v in column col of row id.
func (e *Env) SetRaw(t testing.TB, id, col string, v any) {
	t.Helper()
	if n := e.Exec(t, fmt.Sprintf(`UPDATE {t} SET %s = $1 WHERE id = $2`, col), v, id); n != 1 {
		t.Fatalf("updating %s of row %q: %d rows affected", col, id, n)
	}
}

// Count returns the number of rows in the table.
func (e *Env) Count(t testing.TB) int {
	t.Helper()
	var n int
	if err := e.queryRow(context.Background(), e.q(`SELECT count(*) FROM {t}`)).Scan(&n); err != nil {
		t.Fatalf("counting rows: %v", err)
	}
	return n
}

// AllBytes returns every column of every row, as stored, concatenated: what
// a reader of the raw table sees.
func (e *Env) AllBytes(t testing.TB) []byte {
	t.Helper()
	var out []byte
	cols := []string{"id", "user_id", "provider_id", "account_id", "access_token", "refresh_token", "id_token", "scope", "password"}
	var last string
	for {
		var id string
		if err := e.queryRow(context.Background(), e.q(`SELECT id FROM {t} WHERE id > $1 ORDER BY id LIMIT 1`), last).Scan(&id); err != nil {
			if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
				return out
			}
			t.Fatalf("reading ids: %v", err)
		}
		for _, c := range cols {
			var v []byte
			q := fmt.Sprintf(`SELECT %s FROM {t} WHERE id = $1`, c)
			if e.Name == "postgres" && c != "access_token" && c != "refresh_token" && c != "id_token" {
				q = fmt.Sprintf(`SELECT convert_to(%s, 'UTF8') FROM {t} WHERE id = $1`, c)
			}
			if err := e.queryRow(context.Background(), e.q(q), id).Scan(&v); err != nil {
				t.Fatalf("reading %s: %v", c, err)
			}
			out = append(out, v...)
			out = append(out, 0)
		}
		last = id
	}
}
