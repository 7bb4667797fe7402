package accountvault

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this module that falls in one of
// these classes wraps the matching sentinel, so callers test with [errors.Is].
var (
	// ErrNotFound: no row matches (FindByProvider, Unlink).
	ErrNotFound = errors.New("accountvault: account not found")

	// ErrConflict: a CompareAndSwap found the row changed or gone.
	ErrConflict = errors.New("accountvault: account changed concurrently")

	// ErrInvalidAccount: an Account failed validation; nothing was written.
	// The error is an *[InvalidAccountError] naming the field.
	ErrInvalidAccount = errors.New("accountvault: invalid account")

	// ErrDecrypt: a sealed value failed to open: it was tampered with, moved
	// to another row, column, table or user, or is not well-formed.
	ErrDecrypt = errors.New("accountvault: sealed value failed to open")

	// ErrUnknownKey: a sealed value names a key-encryption key that the
	// keyring does not hold or holds disabled.
	ErrUnknownKey = errors.New("accountvault: unknown or disabled key-encryption key")

	// ErrLegacyPlaintext: a token column holds a value without the sealed
	// format prefix (plaintext from before adoption). It is refused unless
	// the store runs in legacy-migration mode.
	ErrLegacyPlaintext = errors.New("accountvault: value is legacy plaintext, not sealed")

	// ErrInvalidArgument: a call's argument is out of its domain (a List
	// limit that is not positive, a cursor that no stored id can follow).
	ErrInvalidArgument = errors.New("accountvault: invalid argument")

	// ErrIncompatibleTable: a backend's table exists but is not one it can
	// use (Migrate) or adopt (Adopt). The error is a *[TableError].
	ErrIncompatibleTable = errors.New("accountvault: existing table is not compatible")

	// ErrUnexpectedPlaintext: a token column holds a value that is not
	// sealed where no legacy plaintext can be: in a table whose adoption
	// has finished (or was never adopted), in a row that also holds sealed
	// values, or a value that is not a text token at all (invalid UTF-8,
	// NUL bytes; for example a sealed value with a damaged prefix). It is a
	// planted value or corruption, never legacy data, and is never sealed.
	ErrUnexpectedPlaintext = errors.New("accountvault: unsealed value where only sealed values can be")

	// ErrTransient marks a database failure that may pass if the call is
	// tried again: the connection or the server failed, or the database
	// was busy, deadlocked or overloaded. Backends return it beside the
	// driver's own error (errors.Is matches both). A write that failed so
	// may still have taken effect.
	ErrTransient = errors.New("accountvault: transient database failure")

	// ErrSerialization marks a statement the database refused to run
	// alongside concurrent transactions, a serialization failure or a
	// deadlock (SQLSTATE 40001, 40P01), that kept failing so through the
	// backend's retries. Unlike other transient failures, it means the
	// call had no effect. It comes with ErrTransient.
	ErrSerialization = errors.New("accountvault: serialization failure")

	// ErrDatabaseSetup marks a database that refuses the access a call
	// needs (permissions, a read-only database or transaction, a rejected
	// login) or lacks what the SQL names (an undefined table or column):
	// a set-up to fix, not a fault of the data. Backends return it beside
	// the driver's own error.
	ErrDatabaseSetup = errors.New("accountvault: database set-up refuses the call")

	// ErrInvalidTime: a stored row holds, in a time column, a value that
	// is not epoch seconds: ISO-8601 text or epoch milliseconds written
	// into an adopted table by the application it was adopted from, a
	// REAL, a BLOB, or NULL in created_at or updated_at. The row cannot be
	// read; the error is a *[RowError] naming it and the column, and the
	// other rows read on. `accountvault migrate` converts the values it
	// can convert without guessing.
	ErrInvalidTime = errors.New("accountvault: stored time is not epoch seconds")

	// ErrMetaTooLarge: a stored [Metadata] value is larger than
	// [MaxMetaSize], which no backend's SwapMeta writes: someone wrote it
	// with SQL. Backends refuse it before reading it into memory.
	ErrMetaTooLarge = errors.New("accountvault: stored metadata value exceeds MaxMetaSize")

	// ErrPasswordNotHashed: an Account's Password is not a recognised
	// password hash. Plaintext passwords are never written.
	ErrPasswordNotHashed = errors.New("accountvault: password is not a recognised hash")
)

// InvalidAccountError reports which field of an Account failed validation
// and why. It never contains the field's value. It wraps [ErrInvalidAccount].
type InvalidAccountError struct {
	Field  string // the Go field name, e.g. "AccessToken"
	Reason string // e.g. "is empty", "exceeds 1024 bytes"
}

func (e *InvalidAccountError) Error() string {
	return fmt.Sprintf("accountvault: invalid account: %s %s", e.Field, e.Reason)
}

func (e *InvalidAccountError) Unwrap() error { return ErrInvalidAccount }

// RowError reports that one stored row could not be processed, by row id and
// column, never by value. It wraps the cause (for example [ErrDecrypt]).
// The store's read methods return it, and its operator walks (rewrap, check,
// legacy sealing) list one per failing row.
type RowError struct {
	ID     string // the row's id
	Column string // the column, e.g. "access_token"; empty if the row as a whole failed
	Err    error
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("accountvault: row %q: %v", e.ID, e.Err)
	}
	return fmt.Sprintf("accountvault: row %q column %s: %v", e.ID, e.Column, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// TableError reports why a backend's existing table cannot be used or
// adopted: the table, the column concerned (empty when the table as a whole
// is at fault) and the reason, never a row's value. It wraps
// [ErrIncompatibleTable].
type TableError struct {
	Table  string // the table's name
	Column string // the column concerned, or ""
	Reason string // e.g. "is missing", "has type integer, want bytea"
}

func (e *TableError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("existing table is not compatible: table %q %s", e.Table, e.Reason)
	}
	return fmt.Sprintf("existing table is not compatible: table %q column %s %s", e.Table, e.Column, e.Reason)
}

func (e *TableError) Unwrap() error { return ErrIncompatibleTable }

// RowErrors returns the *[RowError]s that err joins (see [errors.Join]), and
// true, if err is made of nothing else: the error a [Backend]'s List or
// FindForUser returns beside the rows it could read. For any other error,
// including nil, it returns nil and false.
func RowErrors(err error) ([]*RowError, bool) {
	if err == nil {
		return nil, false
	}
	if re, ok := err.(*RowError); ok {
		return []*RowError{re}, true
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil, false
	}
	var out []*RowError
	for _, e := range j.Unwrap() {
		sub, ok := RowErrors(e)
		if !ok {
			return nil, false
		}
		out = append(out, sub...)
	}
	return out, len(out) > 0
}
