package cli

import (
	"context"
	"errors"

	"github.com/accountvault/accountvault"
)

// dbErrorClass says what a database error calls for.
type dbErrorClass int

const (
	// dbErrOther: a fault of the data or of the database that running
	// the same command again will meet again (a constraint or trigger
	// refusing the write, a full disk, a corrupt file).
	dbErrOther dbErrorClass = iota
	// dbErrTransient: the connection or the server failed, or the
	// database was busy, deadlocked or overloaded; running the command
	// again may succeed.
	dbErrTransient
	// dbErrConfig: the database refuses this role or this handle the
	// access the command needs (permissions, a read-only database or
	// transaction), or the SQL names what is not there: fix the set-up.
	dbErrConfig
)

// classifyDBError classifies err, a database error from either backend,
// by the classes the backends mark their errors with.
func classifyDBError(err error) dbErrorClass {
	switch {
	case errors.Is(err, accountvault.ErrDatabaseSetup):
		return dbErrConfig
	case errors.Is(err, accountvault.ErrTransient), errors.Is(err, context.DeadlineExceeded):
		return dbErrTransient
	}
	return dbErrOther
}
