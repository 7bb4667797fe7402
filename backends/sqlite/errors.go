package sqlite

import (
	"context"

	"errors"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// wrap adds the operation to a driver error, the context's error if the
// context is done, and the error's class (see classify).
func wrap(ctx context.Context, op string, err error) error {
	return sqlrow.Wrap(ctx, "sqlite", op, err, classify)
}

// classify names the class of a SQLite error: accountvault.ErrTransient
// for a busy or locked database, accountvault.ErrDatabaseSetup for one
// that is read-only, refuses permission or cannot be opened, nil for
// anything else (a constraint, a full disk, a corrupt file: running the
// call again meets it again).
func classify(err error) error {
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL:
			return accountvault.ErrTransient
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH, sqlite3.SQLITE_CANTOPEN:
			return accountvault.ErrDatabaseSetup
		}
		return nil
	}
	return sqlrow.ClassifyNet(err)
}
