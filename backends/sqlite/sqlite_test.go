package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/backendtest"
	"github.com/accountvault/accountvault/backends/sqlite"
)

// openFile opens and migrates a Backend over a fresh database file.
func openFile(t *testing.T, opts ...sqlite.Option) *sqlite.Backend {
	t.Helper()
	b, err := sqlite.Open(filepath.Join(t.TempDir(), "accounts.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformanceFile(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) accountvault.Backend { return openFile(t) })
}

func TestConformanceMemory(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) accountvault.Backend {
		b, err := sqlite.Open(":memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		if err := b.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestConformanceNew runs the suite over an application's own handle,
// with a table name of its own, in a database it shares with other tables.
func TestConformanceNew(t *testing.T) {
	db := openAppDB(t, filepath.Join(t.TempDir(), "app.db"))
	n := 0
	backendtest.Run(t, func(t *testing.T) accountvault.Backend {
		n++
		b, err := sqlite.New(db, sqlite.WithTable("app_accounts_"+strconv.Itoa(n)))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// openAppDB opens a *sql.DB the way an application would, with its own DSN.
func openAppDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("closing the application's db: %v", err)
		}
	})
	return db
}

func TestNewLeavesHandleOpen(t *testing.T) {
	db := openAppDB(t, filepath.Join(t.TempDir(), "app.db"))
	b, err := sqlite.New(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Migrate(t.Context()); err == nil {
		t.Error("Migrate after Close succeeded")
	}
	if _, err := b.FindByProvider(t.Context(), "p", "s"); err == nil || errors.Is(err, accountvault.ErrNotFound) {
		t.Errorf("FindByProvider after Close: %v, want an error saying the Backend is closed", err)
	}
	// The application's handle still works, and sees the row.
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM accounts`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after Close, the application's db: count %d, %v", n, err)
	}
	if _, err := sqlite.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestOpenCloseOwnsPool(t *testing.T) {
	b := openFile(t)
	c := b // keep using after Close
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindByProvider(t.Context(), "p", "s"); err == nil || errors.Is(err, accountvault.ErrNotFound) {
		t.Fatalf("FindByProvider after Close: %v, want a closed-database error", err)
	}
}

func TestWithTable(t *testing.T) {
	good := []string{"a", "_", "accounts", "Accounts_2", "_x9", strings.Repeat("t", 63)}
	for _, name := range good {
		b, err := sqlite.Open(":memory:", sqlite.WithTable(name))
		if err != nil {
			t.Errorf("WithTable(%q): %v", name, err)
			continue
		}
		if b.Table() != name {
			t.Errorf("Table() = %q, want %q", b.Table(), name)
		}
		if err := b.Migrate(t.Context()); err != nil {
			t.Errorf("Migrate with table %q: %v", name, err)
		}
		if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s"}); err != nil {
			t.Errorf("Upsert with table %q: %v", name, err)
		}
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}
	bad := []string{"", "1abc", "a-b", "a b", `a"b`, "a;DROP TABLE x", "naïve", strings.Repeat("t", 64),
		"accountvault_schema", "AccountVault_Schema", "sqlite_master", "SQLITE_x", "a\x00"}
	for _, name := range bad {
		b, err := sqlite.Open(":memory:", sqlite.WithTable(name))
		if err == nil {
			t.Errorf("WithTable(%q) accepted", name)
			b.Close()
			continue
		}
		if _, err := sqlite.New(&sql.DB{}, sqlite.WithTable(name)); err == nil {
			t.Errorf("New with WithTable(%q) accepted", name)
		}
	}
	b, err := sqlite.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Table() != "accounts" {
		t.Errorf("default Table() = %q, want accounts", b.Table())
	}
}

func TestMigrateIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts.db")
	b, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	a, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s", AccessToken: []byte("tok")})
	if err != nil {
		t.Fatal(err)
	}
	// Migrate verifies the table it created and changes nothing, and so
	// does Adopt on it.
	created := snapshot(t, sqlite.DBForTest(b), "accounts")
	for range 2 {
		if err := b.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate of its own table: %v", err)
		}
		if err := b.Adopt(t.Context()); err != nil {
			t.Fatalf("Adopt of Migrate's table: %v", err)
		}
	}
	if snapshot(t, sqlite.DBForTest(b), "accounts") != created {
		t.Error("Migrate or Adopt of Migrate's own table changed it")
	}
	// Concurrently, from other pools on the same file, as other processes would.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			o, err := sqlite.Open(path)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = errors.Join(o.Migrate(t.Context()), o.Close())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate %d: %v", i, err)
		}
	}
	got, err := b.FindByProvider(t.Context(), "p", "s")
	if err != nil || got.ID != a.ID || !bytes.Equal(got.AccessToken, a.AccessToken) {
		t.Fatalf("row after repeated Migrate: id %q, %v", got.ID, err)
	}

	db := openAppDB(t, path)
	var version, tables int
	if err := db.QueryRowContext(t.Context(), `SELECT version FROM accountvault_schema WHERE table_name = 'accounts'`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != sqlite.SchemaVersion {
		t.Errorf("recorded version %d, want %d", version, sqlite.SchemaVersion)
	}
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM accountvault_schema`).Scan(&tables); err != nil || tables != 1 {
		t.Errorf("accountvault_schema has %d rows, %v; want 1", tables, err)
	}

	// Two tables in one database each get their row.
	o, err := sqlite.New(db, sqlite.WithTable("other"))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM accountvault_schema`).Scan(&tables); err != nil || tables != 2 {
		t.Errorf("accountvault_schema has %d rows, %v; want 2", tables, err)
	}

	// A version from the future is refused, and nothing changes.
	if _, err := db.ExecContext(t.Context(), `UPDATE accountvault_schema SET version = 99 WHERE table_name = 'accounts'`); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, db, "accounts")
	if err := b.Migrate(t.Context()); err == nil || !strings.Contains(err.Error(), "99") {
		t.Errorf("Migrate over version 99: %v, want an error naming the version", err)
	}
	if err := b.Adopt(t.Context()); err == nil || !strings.Contains(err.Error(), "99") {
		t.Errorf("Adopt over version 99: %v, want an error naming the version", err)
	}
	if snapshot(t, db, "accounts") != before {
		t.Error("the refused Migrate changed the table")
	}
}

// TestAdoptCreates checks that Adopt of a table that does not exist
// creates it as Migrate does, and records it as Migrate's.
func TestAdoptCreates(t *testing.T) {
	dir := t.TempDir()
	var snaps []string
	for i, adopt := range []bool{false, true} {
		b, err := sqlite.Open(filepath.Join(dir, fmt.Sprint(i, ".db")))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if adopt {
			err = b.Adopt(t.Context())
		} else {
			err = b.Migrate(t.Context())
		}
		if err != nil {
			t.Fatalf("creating the table (adopt %v): %v", adopt, err)
		}
		if err := b.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate after creating the table (adopt %v): %v", adopt, err)
		}
		snaps = append(snaps, snapshot(t, sqlite.DBForTest(b), "accounts"))
	}
	if snaps[0] != snaps[1] {
		t.Errorf("Adopt created another table than Migrate:\n%s\n%s", snaps[0], snaps[1])
	}
}

func TestMigrateCancelled(t *testing.T) {
	b, err := sqlite.Open(filepath.Join(t.TempDir(), "accounts.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Migrate(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Migrate with a cancelled context: %v", err)
	}
	if _, err := b.FindByProvider(t.Context(), "p", "s"); err == nil || errors.Is(err, accountvault.ErrNotFound) {
		t.Fatalf("cancelled Migrate created the table: %v", err)
	}
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestOpenPaths checks file names that are not plain in a URI, and a
// caller's own file: URI.
func TestOpenPaths(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a?b.db", "a#b.db", "a%20b.db", "a b.db", "naïve.db"} {
		path := filepath.Join(dir, name)
		b, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		if err := b.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate(%q): %v", name, err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		matches, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range matches {
			found = found || filepath.Base(m) == name
		}
		if !found {
			t.Errorf("Open(%q) created %q instead", name, matches)
		}
	}
	b, err := sqlite.Open("file:" + filepath.Join(dir, "uri.db") + "?cache=private")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(""); err == nil {
		t.Error(`Open("") succeeded`)
	}
}

func TestPragmas(t *testing.T) {
	b := openFile(t, sqlite.WithBusyTimeout(1234_000_000))
	// Read back through the Backend's own pool: several connections.
	db := sqlite.DBForTest(b)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c, err := db.Conn(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			var mode string
			var busy, sync int
			if err := c.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode %q, %v", mode, err)
			}
			if err := c.QueryRowContext(t.Context(), "PRAGMA busy_timeout").Scan(&busy); err != nil || busy != 1234 {
				t.Errorf("busy_timeout %d, %v", busy, err)
			}
			if err := c.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
				t.Errorf("synchronous %d, %v; want 1 (NORMAL)", sync, err)
			}
		})
	}
	wg.Wait()
	if _, err := sqlite.Open(":memory:", sqlite.WithBusyTimeout(0)); err == nil {
		t.Error("WithBusyTimeout(0) accepted")
	}
}

// TestStorage checks what reaches the file: NULL for empty tokens, scope
// and password, BLOB tokens, integer epoch seconds.
func TestStorage(t *testing.T) {
	b := openFile(t)
	db := sqlite.DBForTest(b)
	if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s",
		RefreshToken: []byte("r\x00"), CreatedAt: time.Unix(1700000000, 999), UpdatedAt: time.Unix(1700000001, 0)}); err != nil {
		t.Fatal(err)
	}
	var nulls, blobs int
	var created, updated any
	err := db.QueryRowContext(t.Context(), `SELECT
		(access_token IS NULL) + (id_token IS NULL) + (scope IS NULL) + (password IS NULL)
			+ (access_token_expires_at IS NULL) + (refresh_token_expires_at IS NULL),
		typeof(refresh_token) = 'blob' AND length(refresh_token) = 2,
		created_at, updated_at FROM accounts`).Scan(&nulls, &blobs, &created, &updated)
	if err != nil {
		t.Fatal(err)
	}
	if nulls != 6 || blobs != 1 {
		t.Errorf("%d of 6 empty columns are NULL; refresh_token stored as a 2-byte blob: %v", nulls, blobs == 1)
	}
	if created != int64(1700000000) || updated != int64(1700000001) {
		t.Errorf("created_at %v (%T), updated_at %v (%T); want integer epoch seconds", created, created, updated, updated)
	}
}

// TestAdoptedValues reads and swaps a row written by another program: empty
// strings rather than NULL, and tokens stored as TEXT.
func TestAdoptedValues(t *testing.T) {
	b := openFile(t)
	db := sqlite.DBForTest(b)
	if _, err := db.ExecContext(t.Context(), `INSERT INTO accounts
		(id, user_id, provider_id, account_id, access_token, refresh_token, id_token, scope, password, created_at, updated_at)
		VALUES ('a', 'u', 'p', 's', 'text-token', X'', '', '', '', 1, 2)`); err != nil {
		t.Fatal(err)
	}
	old, err := b.FindByProvider(t.Context(), "p", "s")
	if err != nil {
		t.Fatal(err)
	}
	if string(old.AccessToken) != "text-token" || old.RefreshToken != nil || old.IDToken != nil || old.Scope != "" || !old.Password.IsZero() {
		t.Fatalf("adopted row read back wrong: token lengths %d %d %d (empty must be nil), scope %q, password length %d",
			len(old.AccessToken), len(old.RefreshToken), len(old.IDToken), old.Scope, old.Password.Len())
	}
	n := old
	n.AccessToken, n.RefreshToken = []byte("sealed-1"), []byte("sealed-2")
	if err := b.CompareAndSwap(t.Context(), old, n); err != nil {
		t.Fatalf("CompareAndSwap from an adopted row: %v", err)
	}
	if err := b.CompareAndSwap(t.Context(), old, n); !errors.Is(err, accountvault.ErrConflict) {
		t.Fatalf("second CompareAndSwap: %v, want ErrConflict", err)
	}
}
