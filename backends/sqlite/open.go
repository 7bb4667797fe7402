package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Backend is an [accountvault.Backend] over one SQLite table. It is safe for
// concurrent use.
type Backend struct {
	db    *sql.DB
	owned bool // db was opened by Open, and Close closes it
	table string
	sql   [sqlrow.NumStmts]string
	m     sqlrow.Methods

	stmts  [sqlrow.NumStmts]atomic.Pointer[sql.Stmt] // prepared on first use
	mu     sync.Mutex                                // guards preparing, closed
	closed bool
}

var (
	_ accountvault.Backend    = (*Backend)(nil)
	_ accountvault.TableNamer = (*Backend)(nil)
	_ accountvault.Metadata   = (*Backend)(nil)
)

// Open opens the SQLite database at path, creating the file if needed, and
// returns a Backend that owns the connection pool: [Backend.Close] closes it.
//
// path is a file name, ":memory:", or a SQLite "file:" URI (passed through
// with the driver parameters below appended). A plain file name is made
// absolute, so every pooled connection opens the same file whatever the
// working directory later is, and may contain '?', '#' or '%'.
//
// Every connection of the pool is configured through the DSN:
// journal_mode=WAL, synchronous=NORMAL, busy_timeout (see
// [WithBusyTimeout]) and transactions that begin IMMEDIATE. The pool holds
// up to max(4, GOMAXPROCS) connections, kept open; an in-memory database
// lives in its connection, so for one the pool holds a single connection,
// which all calls share.
//
// Open does not create the table: call [Backend.Migrate].
func Open(path string, opts ...Option) (*Backend, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	dsn, err := buildDSN(path, cfg)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := sizePool(db); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open: %w", err), db.Close())
	}
	b := newBackend(db, cfg)
	b.owned = true
	return b, nil
}

// New returns a Backend over the application's own database handle, which
// must use the modernc.org/sqlite driver. The Backend never closes db, and
// [Backend.Close] leaves it open.
//
// The connection settings are the application's: it should set at least a
// busy_timeout in its DSN (for example
// "file:app.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"),
// or concurrent writers fail with SQLITE_BUSY instead of waiting. For an
// in-memory database, db must be limited to one connection
// (db.SetMaxOpenConns(1)) or use a shared cache.
//
// New does not create the table: call [Backend.Migrate].
func New(db *sql.DB, opts ...Option) (*Backend, error) {
	if db == nil {
		return nil, errors.New("sqlite: New: nil *sql.DB")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newBackend(db, cfg), nil
}

func newBackend(db *sql.DB, cfg config) *Backend {
	b := &Backend{db: db, table: cfg.table, sql: buildQueries(cfg.table)}
	b.m = sqlrow.Methods{DB: runner{b}, Classify: classify, Name: "sqlite", Table: cfg.table, LenientTimes: true}
	return b
}

// Table returns the name of the accounts table.
func (b *Backend) Table() string { return b.table }

// Close releases the Backend's prepared statements and, if Open opened the
// connection pool, closes it. A Backend made by New leaves the
// application's handle open. Calls after Close fail.
func (b *Backend) Close() error {
	err := b.closeStmts()
	if b.owned {
		err = errors.Join(err, b.db.Close())
	}
	if err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// buildDSN returns the modernc.org/sqlite DSN for path with the pragmas
// every connection runs when the pool opens it.
func buildDSN(path string, cfg config) (string, error) {
	params := url.Values{}
	params.Add("_pragma", "busy_timeout("+strconv.FormatInt(cfg.busyTimeout.Milliseconds(), 10)+")")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "synchronous(NORMAL)")
	params.Set("_txlock", "immediate")
	query := params.Encode()

	switch {
	case path == "":
		return "", errors.New(`sqlite: open: empty path (use ":memory:" for an in-memory database)`)
	case path == ":memory:":
		return ":memory:?" + query, nil
	case strings.HasPrefix(path, "file:"):
		if strings.Contains(path, "?") {
			return path + "&" + query, nil
		}
		return path + "?" + query, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlite: open: %w", err)
	}
	// A file: URI with an empty authority and a percent-escaped path, so
	// that '?', '#' and '%' in a file name are not read as URI syntax.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // a Windows drive letter
	}
	return "file://" + u.EscapedPath() + "?" + query, nil
}

// sizePool bounds db's pool and keeps its connections open: opening one
// costs a schema parse and the pragmas. A database in memory, or temporary,
// lives and dies with its connection (a second one would see another,
// empty, database): for one the pool holds a single connection. For a file,
// SQLite admits one writer at a time, so more connections than the
// processors only add waiters: the pool holds max(4, GOMAXPROCS), and
// further callers wait for a connection, as their contexts allow.
func sizePool(db *sql.DB) error {
	var file string
	err := db.QueryRowContext(context.Background(),
		"SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file)
	if err != nil {
		return err
	}
	n := 1
	if file != "" {
		n = max(4, runtime.GOMAXPROCS(0))
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return nil
}
