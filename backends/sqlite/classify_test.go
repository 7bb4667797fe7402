package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/accountvault/accountvault"
)

// TestClassifyErrors classifies errors that a real SQLite database returns,
// as the backend marks them: a set-up fault, a transient one, or neither.
func TestClassifyErrors(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	rw, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if _, err := rw.ExecContext(ctx, `CREATE TABLE t (id TEXT PRIMARY KEY);
		CREATE TRIGGER t_nowrite BEFORE UPDATE ON t BEGIN SELECT RAISE(ABORT, 'refused'); END;
		INSERT INTO t VALUES ('a')`); err != nil {
		t.Fatal(err)
	}

	// A read-only handle: a set-up fault.
	ro, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = ro.ExecContext(ctx, `INSERT INTO t VALUES ('b')`)
	checkClass(t, "write through a read-only handle", err, accountvault.ErrDatabaseSetup)

	// A trigger refusing the write: the same next time.
	_, err = rw.ExecContext(ctx, `UPDATE t SET id = 'c'`)
	checkClass(t, "write refused by a trigger", err, nil)

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
	checkClass(t, "write lock held by another connection", err, accountvault.ErrTransient)
	if _, err := lock.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}

	// Neither driver's: the context's deadline is transient.
	checkClass(t, "deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), accountvault.ErrTransient)
	checkClass(t, "plain error", errors.New("envelope: seal failed"), nil)
}

// checkClass checks that wrap marks err with class, and with no other.
func checkClass(t *testing.T, what string, err, class error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	w := wrap(context.Background(), "Test", err)
	if !errors.Is(w, err) {
		t.Errorf("%s: the wrapped error lost the driver's", what)
	}
	for _, c := range []error{accountvault.ErrTransient, accountvault.ErrDatabaseSetup} {
		if got, want := errors.Is(w, c), c == class; got != want {
			t.Errorf("%s: errors.Is(%v) = %v, want %v (error: %v)", what, c, got, want, w)
		}
	}
}
