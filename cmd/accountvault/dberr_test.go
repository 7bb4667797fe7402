package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/accountvault/accountvault/backends/postgres"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/store"
)

// TestClassifySQLiteErrors classifies errors that a real SQLite database
// returns.
func TestClassifySQLiteErrors(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	rw, err := openRawDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if _, err := rw.ExecContext(ctx, `CREATE TABLE t (id TEXT PRIMARY KEY);
		CREATE TRIGGER t_nowrite BEFORE UPDATE ON t BEGIN SELECT RAISE(ABORT, 'refused'); END;
		INSERT INTO t VALUES ('a')`); err != nil {
		t.Fatal(err)
	}

	// A read-only handle: a configuration error.
	dsn, err := readOnlyDSN(path)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = ro.ExecContext(ctx, `INSERT INTO t VALUES ('b')`)
	checkClass(t, "write through a read-only handle", err, dbErrConfig)

	// A trigger refusing the write: the same next time.
	_, err = rw.ExecContext(ctx, `UPDATE t SET id = 'c'`)
	checkClass(t, "write refused by a trigger", err, dbErrOther)

	// The write lock held elsewhere, and no busy timeout: transient.
	lock, err := rw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, err = other.ExecContext(ctx, `BEGIN IMMEDIATE`)
	checkClass(t, "write lock held by another connection", err, dbErrTransient)
	if _, err := lock.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
}

// TestClassifyPostgresErrors classifies errors that the real Postgres
// server returns.
func TestClassifyPostgresErrors(t *testing.T) {
	_, pool := requirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for code, want := range map[string]dbErrorClass{
		"42501": dbErrConfig,    // insufficient_privilege
		"25006": dbErrConfig,    // read_only_sql_transaction
		"42P01": dbErrConfig,    // undefined_table
		"40001": dbErrTransient, // serialization_failure
		"40P01": dbErrTransient, // deadlock_detected
		"57P01": dbErrTransient, // admin_shutdown
		"53300": dbErrTransient, // too_many_connections
		"08006": dbErrTransient, // connection_failure
		"P0001": dbErrOther,     // raise_exception
		"23505": dbErrOther,     // unique_violation
	} {
		_, err := pool.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '%s'; END $$`, code))
		checkClass(t, "SQLSTATE "+code, fmt.Errorf("postgres: CompareAndSwap: %w", err), want)
	}
	// A real read-only transaction.
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, `CREATE TABLE avcli_readonly_never (id int)`)
	checkClass(t, "DDL in a read-only transaction", err, dbErrConfig)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// No server: transient.
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	_, err = pgx.Connect(cctx, "postgres://root@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	checkClass(t, "connection refused", err, dbErrTransient)
}

func TestClassifyOtherErrors(t *testing.T) {
	checkClass(t, "plain error", errors.New("envelope: seal failed"), dbErrOther)
	checkClass(t, "deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), dbErrTransient)
}

func checkClass(t *testing.T, what string, err error, want dbErrorClass) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	if got := classifyDBError(err); got != want {
		t.Errorf("%s: class %d, want %d (error: %v)", what, got, want, err)
	}
}

// TestSQLiteInspectorCreatesNothing checks that reading the catalog of a
// SQLite file that does not exist fails without creating it.
func TestSQLiteInspectorCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	if _, err := sqliteInspector(path, "account")(context.Background()); err == nil {
		t.Error("no error reading the catalog of a missing file")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the missing file was created (stat: %v)", err)
	}
}

func TestCamelCaseColumns(t *testing.T) {
	st := tableState{exists: true, foldCase: true, columns: map[string]string{
		"id": "text", "userid": "text", "ACCOUNTID": "text", "provider_id": "text",
	}}
	got := camelCaseColumns(st)
	if len(got) != 2 || got[0] != "userId" || got[1] != "accountId" {
		t.Errorf("camelCaseColumns (SQLite, case-insensitive) = %q, want [userId accountId]", got)
	}
	st.foldCase = false // Postgres: "userid" is not "userId"
	if got := camelCaseColumns(st); len(got) != 0 {
		t.Errorf("camelCaseColumns (Postgres) = %q, want none", got)
	}
}

func TestSchemaReport(t *testing.T) {
	before := tableState{exists: true, columns: map[string]string{"access_token": "text", "refresh_token": "text", "created_at": "timestamp with time zone", "scope": "text"}}
	after := tableState{exists: true, version: 2, columns: map[string]string{"access_token": "bytea", "refresh_token": "bytea", "created_at": "bigint", "scope": "text"}}
	for _, tc := range []struct {
		before, after tableState
		want          string
	}{
		{before, after, "ready (schema version 2): adopted; converted access_token, refresh_token from text to bytea; created_at from timestamp with time zone to bigint"},
		{after, after, "ready (schema version 2): already in accountvault's schema, nothing changed"},
		{tableState{exists: true, columns: after.columns}, after, "ready (schema version 2): adopted; no column type changed"},
		{tableState{exists: true, version: 1, columns: after.columns}, after, "ready (schema version 2): upgraded from schema version 1"},
	} {
		if got := schemaReport(tc.before, tc.after); got != tc.want {
			t.Errorf("schemaReport = %q, want %q", got, tc.want)
		}
	}
}

// TestWalkError checks what migrate says when its walk stops on a database
// error: "run the same command again" only for a transient one, exit 2
// only for a configuration error before any row was sealed.
func TestWalkError(t *testing.T) {
	pgErr := func(code string) error {
		return fmt.Errorf("postgres: CompareAndSwap: %w", &pgconn.PgError{Code: code, Message: "test"})
	}
	d := &database{name: "db", table: "account"}
	for _, tc := range []struct {
		name      string
		err       error
		p         store.Progress
		after     string
		code      int
		stderr    []string
		notStderr []string
	}{
		{"transient at the first row", pgErr("40001"), store.Progress{Seen: 1}, "", exitFailed,
			[]string{"stopped before the first row; run the same command again"}, nil},
		{"transient midway", pgErr("08006"), store.Progress{Seen: 3, Rewritten: 2, Cursor: "b"}, "", exitFailed,
			[]string{`stopped after row "b"; run the same command again to finish`}, nil},
		{"permission at the first row", pgErr("42501"), store.Progress{Seen: 1}, "", exitUsage,
			nil, []string{"run the same command again"}},
		{"permission at the first row after --after", pgErr("42501"), store.Progress{Seen: 1, Cursor: "x"}, "x", exitUsage,
			nil, []string{"run the same command again", "stopped"}},
		{"trigger at the first row", pgErr("P0001"), store.Progress{Seen: 1}, "", exitFailed,
			nil, []string{"run the same command again", "stopped before"}},
		{"permission midway", pgErr("42501"), store.Progress{Seen: 3, Rewritten: 2, Cursor: "b"}, "", exitFailed,
			[]string{`stopped after row "b"; fix the cause, then run the same command again`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			c := &cli{stdout: io.Discard, stderr: &stderr}
			err := c.walkError(d, walkFlags{after: tc.after}, tc.p, "summary", tc.err)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != tc.code {
				t.Fatalf("error %v: want exit code %d", err, tc.code)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("error %v does not wrap the database error", err)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr %q lacks %q", stderr.String(), s)
				}
			}
			for _, s := range tc.notStderr {
				if strings.Contains(stderr.String(), s) {
					t.Errorf("stderr %q has %q", stderr.String(), s)
				}
			}
		})
	}
}

// TestMigrateError checks the exit code and hint for each way the
// backends' Migrate fails.
func TestMigrateError(t *testing.T) {
	camel := tableState{exists: true, columns: map[string]string{"id": "text", "userId": "text"}}
	snake := tableState{exists: true, columns: map[string]string{"id": "text", "user_id": "text"}}
	te := &sqlite.TableError{Table: "account", Column: "user_id", Reason: "is missing"}
	for _, tc := range []struct {
		name   string
		before tableState
		err    error
		code   int
		hint   bool
	}{
		{"camelCase table", camel, fmt.Errorf("sqlite: Migrate: %w", te), exitUsage, true},
		{"camelCase column named", snake, fmt.Errorf("postgres: Migrate: %w", &postgres.TableError{Table: "account", Column: "userId", Reason: "has type uuid"}), exitUsage, true},
		{"duplicates", snake, fmt.Errorf("sqlite: Migrate: %w", &sqlite.TableError{Table: "account", Column: "(provider_id, account_id)", Reason: "has duplicates"}), exitUsage, false},
		{"no privilege", snake, fmt.Errorf("postgres: Migrate: %w", &pgconn.PgError{Code: "42501"}), exitUsage, false},
		{"disk full", snake, fmt.Errorf("postgres: Migrate: %w", &pgconn.PgError{Code: "53100"}), exitFailed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			c := &cli{stdout: io.Discard, stderr: &stderr, sig: context.Background()}
			err := c.migrateError(&database{name: "db", table: "account"}, tc.before, tc.err)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != tc.code {
				t.Fatalf("error %v: want exit code %d", err, tc.code)
			}
			if got := strings.Contains(err.Error(), runbookHint); got != tc.hint {
				t.Errorf("error %q: hint %v, want %v", err, got, tc.hint)
			}
			if errors.Is(tc.err, sqlite.ErrIncompatibleTable) && !errors.Is(err, postgres.ErrIncompatibleTable) {
				t.Errorf("error %v does not wrap ErrIncompatibleTable", err)
			}
		})
	}
}
