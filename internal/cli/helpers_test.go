package cli

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for raw SQL in tests

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/pgtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// requirePostgres returns the test server's URL and a pool on it, or
// skips t (fails it under CI=true) if no server answers.
func requirePostgres(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	return pgtest.URL(), pgtest.Pool(t)
}

// uniqueTable returns a fresh table name for one test.
func uniqueTable(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + "_" + hex.EncodeToString(b[:])
}

// rawDB is a plain database/sql handle on a test database, for what a test
// must do behind the library's back: snapshots, tampering, legacy tables.
type rawDB struct {
	*sql.DB
	postgres bool
}

func openRawDB(dbArg string) (*rawDB, error) {
	if isPostgresURL(dbArg) {
		db, err := sql.Open("pgx", dbArg)
		if err != nil {
			return nil, err
		}
		return &rawDB{DB: db, postgres: true}, nil
	}
	abs, err := filepath.Abs(dbArg)
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "_pragma=busy_timeout(10000)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	return &rawDB{DB: db}, nil
}

// quote quotes a table name (test names are plain identifiers).
func quote(table string) string { return `"` + table + `"` }

// seedAccount returns the i-th test account. Its tokens depend on i and
// tag, so a test can tell which write a row holds.
func seedAccount(i int, tag string) accountvault.Account {
	a := accountvault.Account{
		ID:     fmt.Sprintf("acc_%06d", i),
		UserID: fmt.Sprintf("user_%06d", i/2),
	}
	tok := func(col string) accountvault.Secret {
		return accountvault.NewSecret(fmt.Sprintf("%s-%s-token-%06d", tag, col, i))
	}
	switch i % 3 {
	case 0:
		a.ProviderID, a.AccessToken = "github", tok("access")
		a.Scope = "read:user"
	case 1:
		a.ProviderID = "google"
		a.AccessToken, a.RefreshToken, a.IDToken = tok("access"), tok("refresh"), tok("id")
		exp := time.Unix(1_900_000_000+int64(i), 0).UTC()
		a.AccessTokenExpiresAt = &exp
	case 2:
		a.ProviderID = "gitlab"
		a.AccessToken, a.RefreshToken = tok("access"), tok("refresh")
	}
	a.AccountID = fmt.Sprintf("%s-%06d", a.ProviderID, i)
	return a
}

// sameTokens reports whether a holds want's tokens.
func sameTokens(a, want accountvault.Account) bool {
	return a.AccessToken.Equal(want.AccessToken) && a.RefreshToken.Equal(want.RefreshToken) && a.IDToken.Equal(want.IDToken)
}

// openStore opens dbArg's table (creating and migrating it) in a store
// over k. The caller closes the database.
func openStore(ctx context.Context, dbArg, table string, k *keyring.Keyring, opts ...store.Option) (*store.Store, *database, error) {
	c := &cli{}
	d, err := c.openDB(ctx, dbFlags{db: dbArg, table: table}, true)
	if err != nil {
		return nil, nil, err
	}
	if err := d.backend.Migrate(ctx); err != nil {
		return nil, nil, joinClose(d, err)
	}
	keys, err := k.KEK()
	if err != nil {
		return nil, nil, joinClose(d, err)
	}
	s, err := store.New(d.backend, keys, opts...)
	if err != nil {
		return nil, nil, joinClose(d, err)
	}
	return s, d, nil
}

func joinClose(d *database, err error) error {
	if cerr := d.backend.Close(); cerr != nil {
		return fmt.Errorf("%w (and closing: %v)", err, cerr)
	}
	return err
}

// seed upserts accounts from to from+n-1 (tokens tagged tag) into the
// table through a store over k.
func seed(ctx context.Context, dbArg, table string, k *keyring.Keyring, from, n int, tag string) (err error) {
	s, d, err := openStore(ctx, dbArg, table, k)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := d.backend.Close(); err == nil {
			err = cerr
		}
	}()
	for i := from; i < from+n; i++ {
		if _, err := s.Upsert(ctx, seedAccount(i, tag)); err != nil {
			return fmt.Errorf("seeding row %d: %w", i, err)
		}
	}
	return nil
}

// snapshot returns every row of the table as the backend stores it (tokens
// sealed, in hex), in id order: two equal snapshots mean nothing changed.
func snapshot(ctx context.Context, dbArg, table string) (string, error) {
	d, err := (&cli{}).openDB(ctx, dbFlags{db: dbArg, table: table}, false)
	if err != nil {
		return "", err
	}
	defer d.backend.Close()
	var b strings.Builder
	after := ""
	for {
		rows, err := d.backend.List(ctx, after, 500)
		if err != nil {
			return "", err
		}
		if len(rows) == 0 {
			return b.String(), nil
		}
		for _, r := range rows {
			fmt.Fprintf(&b, "%s|%s|%s|%s|%x|%x|%x|%v|%v|%s|%x|%d|%d\n", r.ID, r.UserID, r.ProviderID, r.AccountID,
				r.AccessToken, r.RefreshToken, r.IDToken,
				unixOrNil(r.AccessTokenExpiresAt), unixOrNil(r.RefreshTokenExpiresAt), r.Scope, r.Password.Reveal(),
				r.CreatedAt.Unix(), r.UpdatedAt.Unix())
			after = r.ID
		}
	}
}

func unixOrNil(t *time.Time) any {
	if t == nil {
		return "nil"
	}
	return t.Unix()
}

// createLegacyTable creates table in the shape of an adopted better-auth
// account table (snake_case columns, TEXT token columns) holding n rows of
// plaintext tokens, plus one credential row with a better-auth scrypt hash
// and no tokens.
func createLegacyTable(ctx context.Context, dbArg, table string, n int) (err error) {
	db, err := openRawDB(dbArg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	intType := "INTEGER"
	if db.postgres {
		intType = "BIGINT"
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+quote(table)+` (
		id TEXT NOT NULL PRIMARY KEY,
		user_id TEXT NOT NULL,
		provider_id TEXT NOT NULL,
		account_id TEXT NOT NULL,
		access_token TEXT,
		refresh_token TEXT,
		id_token TEXT,
		access_token_expires_at `+intType+`,
		refresh_token_expires_at `+intType+`,
		scope TEXT,
		password TEXT,
		created_at `+intType+` NOT NULL,
		updated_at `+intType+` NOT NULL,
		UNIQUE (provider_id, account_id)
	)`); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil {
				err = fmt.Errorf("%w (and rollback: %v)", err, rerr)
			}
		}
	}()
	ins := `INSERT INTO ` + quote(table) + ` (id, user_id, provider_id, account_id, access_token, refresh_token, id_token, scope, password, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	now := time.Now().Unix()
	for i := range n {
		a := seedAccount(i, "legacy")
		if _, err := tx.ExecContext(ctx, ins, a.ID, a.UserID, a.ProviderID, a.AccountID,
			nullText(a.AccessToken), nullText(a.RefreshToken), nullText(a.IDToken), a.Scope, nil, now, now); err != nil {
			return err
		}
	}
	salt, key := make([]byte, 16), make([]byte, 64)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	if _, err := rand.Read(key); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, ins, "cred_legacy", "user_000000", accountvault.ProviderCredential, "user_000000",
		nil, nil, nil, nil, hex.EncodeToString(salt)+":"+hex.EncodeToString(key), now, now); err != nil {
		return err
	}
	return tx.Commit()
}

func nullText(s accountvault.Secret) any {
	if s.IsZero() {
		return nil
	}
	return s.Reveal()
}
