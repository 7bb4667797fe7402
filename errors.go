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
