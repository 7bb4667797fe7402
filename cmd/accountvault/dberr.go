package main

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
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

// classifyDBError classifies err, a database error from either backend.
// An error it does not recognise is dbErrOther.
func classifyDBError(err error) dbErrorClass {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return classifyPostgres(pe.Code)
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		return classifySQLite(se.Code())
	}
	var ne net.Error
	switch {
	case pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return dbErrTransient
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return dbErrTransient
	}
	return dbErrOther
}

// classifyPostgres classifies a SQLSTATE.
func classifyPostgres(code string) dbErrorClass {
	switch code {
	case "53100": // disk_full: the next run meets it too
		return dbErrOther
	case "25006", // read_only_sql_transaction
		"42501": // insufficient_privilege
		return dbErrConfig
	case "55P03", // lock_not_available
		"57014", // query_canceled (statement_timeout)
		"57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now
		"25P03": // idle_in_transaction_session_timeout
		return dbErrTransient
	}
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "40"), // transaction rollback: serialization failure, deadlock
		strings.HasPrefix(code, "53"): // insufficient resources: out of memory, too many connections
		return dbErrTransient
	case strings.HasPrefix(code, "28"), // invalid authorization specification
		strings.HasPrefix(code, "42"): // syntax error or access rule violation: undefined table or column
		return dbErrConfig
	}
	return dbErrOther
}

// classifySQLite classifies a SQLite result code (primary or extended).
func classifySQLite(code int) dbErrorClass {
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL:
		return dbErrTransient
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH, sqlite3.SQLITE_CANTOPEN:
		return dbErrConfig
	}
	return dbErrOther
}
