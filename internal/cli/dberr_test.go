package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/store"
)

// TestClassifyDBError checks that the CLI reads the classes the backends
// mark their errors with (the backends' own tests classify real driver
// errors).
func TestClassifyDBError(t *testing.T) {
	for _, c := range []struct {
		err  error
		want dbErrorClass
	}{
		{errors.New("envelope: seal failed"), dbErrOther},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), dbErrTransient},
		{fmt.Errorf("postgres: List: %w", accountvault.ErrTransient), dbErrTransient},
		{fmt.Errorf("sqlite: Adopt: %w", accountvault.ErrDatabaseSetup), dbErrConfig},
	} {
		if got := classifyDBError(c.err); got != c.want {
			t.Errorf("%v: class %d, want %d", c.err, got, c.want)
		}
	}
}

func TestCamelCaseColumns(t *testing.T) {
	st := accountvault.TableInfo{Exists: true, FoldCase: true, Columns: map[string]string{
		"id": "text", "userid": "text", "ACCOUNTID": "text", "provider_id": "text",
	}}
	got := camelCaseColumns(st)
	if len(got) != 2 || got[0] != "userId" || got[1] != "accountId" {
		t.Errorf("camelCaseColumns (SQLite, case-insensitive) = %q, want [userId accountId]", got)
	}
	st.FoldCase = false // Postgres: "userid" is not "userId"
	if got := camelCaseColumns(st); len(got) != 0 {
		t.Errorf("camelCaseColumns (Postgres) = %q, want none", got)
	}
}

func TestSchemaReport(t *testing.T) {
	before := accountvault.TableInfo{Exists: true, Columns: map[string]string{"access_token": "text", "refresh_token": "text", "created_at": "timestamp with time zone", "scope": "text"}}
	after := accountvault.TableInfo{Exists: true, Version: 2, Columns: map[string]string{"access_token": "bytea", "refresh_token": "bytea", "created_at": "bigint", "scope": "text"}}
	for _, tc := range []struct {
		before, after accountvault.TableInfo
		want          string
	}{
		{before, after, "ready (schema version 2): adopted; converted access_token, refresh_token from text to bytea; created_at from timestamp with time zone to bigint"},
		{accountvault.TableInfo{Exists: true, Columns: map[string]string{"accessToken": "text", "userId": "text", "user_id": "text", "createdAt": "timestamp with time zone"}},
			accountvault.TableInfo{Exists: true, Version: 2, Columns: map[string]string{"access_token": "bytea", "userId": "text", "user_id": "text", "created_at": "bigint"}},
			"ready (schema version 2): adopted; renamed better-auth's columns accessToken, createdAt to snake_case (SECURITY.md has the SQL that renames them back); converted access_token from text to bytea; created_at from timestamp with time zone to bigint"},
		{after, after, "ready (schema version 2): already in accountvault's schema, nothing changed"},
		{accountvault.TableInfo{Exists: true, Columns: after.Columns}, after, "ready (schema version 2): adopted; no column type changed"},
		{accountvault.TableInfo{Exists: true, Version: 1, Columns: after.Columns}, after, "ready (schema version 2): upgraded from schema version 1"},
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
		return pgError("CompareAndSwap", code)
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
	snake := accountvault.TableInfo{Exists: true, Columns: map[string]string{"id": "text", "user_id": "text"}}
	te := &accountvault.TableError{Table: "account", Column: "user_id", Reason: "is missing"}
	for _, tc := range []struct {
		name   string
		before accountvault.TableInfo
		err    error
		code   int
	}{
		{"missing column", snake, fmt.Errorf("sqlite: Migrate: %w", te), exitUsage},
		{"duplicates", snake, fmt.Errorf("sqlite: Migrate: %w", &accountvault.TableError{Table: "account", Column: "(provider_id, account_id)", Reason: "has duplicates"}), exitUsage},
		{"no privilege", snake, pgError("Adopt", "42501"), exitUsage},
		{"disk full", snake, pgError("Adopt", "53100"), exitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			c := &cli{stdout: io.Discard, stderr: &stderr, sig: context.Background()}
			err := c.migrateError(&database{name: "db", table: "account"}, tc.before, tc.err)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != tc.code {
				t.Fatalf("error %v: want exit code %d", err, tc.code)
			}
			if errors.Is(tc.err, accountvault.ErrIncompatibleTable) && !strings.HasSuffix(err.Error(), "; nothing was changed") {
				t.Errorf("error %q does not say that nothing was changed", err)
			}
			if errors.Is(tc.err, accountvault.ErrIncompatibleTable) && !errors.Is(err, accountvault.ErrIncompatibleTable) {
				t.Errorf("error %v does not wrap ErrIncompatibleTable", err)
			}
		})
	}
}

// pgError returns an error as the Postgres backend returns it for SQLSTATE
// code: marked with the class the backend gives that code.
func pgError(op, code string) error {
	class := map[string]error{"42501": accountvault.ErrDatabaseSetup, "40001": accountvault.ErrTransient, "08006": accountvault.ErrTransient}[code]
	if class == nil {
		return fmt.Errorf("postgres: %s: ERROR: test (SQLSTATE %s)", op, code)
	}
	return fmt.Errorf("postgres: %s: ERROR: test (SQLSTATE %s): %w", op, code, class)
}
