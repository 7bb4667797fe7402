package sqlrow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/accountvault/accountvault"
)

// ErrBadLimit is returned by List for a limit that is not positive.
var ErrBadLimit = fmt.Errorf("%w: limit must be positive", accountvault.ErrInvalidArgument)

// ErrBadCursor is returned by List for an after cursor that no stored ID
// could equal or follow meaningfully: one that is not valid UTF-8 or holds
// a NUL byte. Postgres cannot even receive such a value as TEXT, so both
// backends refuse it alike.
var ErrBadCursor = fmt.Errorf("%w: after is not valid UTF-8 without NUL bytes", accountvault.ErrInvalidArgument)

// Storable reports whether s could be stored in a key column: valid UTF-8
// without NUL bytes, as Account.Validate requires. A lookup by a value that
// is not storable can match no row, and both backends answer it without a
// query (Postgres would refuse the value as TEXT; SQLite would accept it).
func Storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// CheckSwap checks the preconditions of CompareAndSwap: new keeps old's ID,
// UserID, ProviderID and AccountID, and passes Validate. The error wraps
// accountvault.ErrInvalidAccount.
func CheckSwap(old, new *accountvault.SealedRow) error {
	for _, f := range []struct{ name, o, n string }{
		{"ID", old.ID, new.ID},
		{"UserID", old.UserID, new.UserID},
		{"ProviderID", old.ProviderID, new.ProviderID},
		{"AccountID", old.AccountID, new.AccountID},
	} {
		if f.o != f.n {
			return &accountvault.InvalidAccountError{Field: f.name, Reason: "differs between old and new"}
		}
	}
	return new.Validate()
}

// Wrap prefixes err with the backend and operation names. If ctx is done
// and err does not already say so, the context's error is wrapped too, so
// that errors.Is(err, context.Canceled) holds whatever the driver returned.
// If classify names a class for err (accountvault.ErrTransient or
// accountvault.ErrDatabaseSetup), the result matches it too. Neither
// driver puts bound argument values in its errors, so no token or
// password can reach the message.
func Wrap(ctx context.Context, backend, op string, err error, classify func(error) error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	out := &Error{msg: backend + ": " + op, err: err}
	if classify != nil {
		out.class = classify(err)
	}
	return out
}

// Error is a database error as the backends return it: the driver's
// error, prefixed, and the class it falls in, if any.
type Error struct {
	msg   string
	err   error
	class error
}

func (e *Error) Error() string { return e.msg + ": " + e.err.Error() }

func (e *Error) Unwrap() []error {
	if e.class == nil {
		return []error{e.err}
	}
	return []error{e.err, e.class}
}

// ClassifyNet classifies the failures common to every driver: the network
// and the context's deadline. It returns accountvault.ErrTransient or nil.
func ClassifyNet(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return accountvault.ErrTransient
	}
	return nil
}
