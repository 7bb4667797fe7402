package sqlrow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/accountvault/accountvault"
)

// ErrBadLimit is returned by List for a limit that is not positive.
var ErrBadLimit = errors.New("limit must be positive")

// ErrBadCursor is returned by List for an after cursor that no stored ID
// could equal or follow meaningfully: one that is not valid UTF-8 or holds
// a NUL byte. Postgres cannot even receive such a value as TEXT, so both
// backends refuse it alike.
var ErrBadCursor = errors.New("after is not valid UTF-8 without NUL bytes")

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
func CheckSwap(old, new *accountvault.Account) error {
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
// Neither driver puts bound argument values in its errors, so no token or
// password can reach the message.
func Wrap(ctx context.Context, backend, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%s: %s: %w (%w)", backend, op, cerr, err)
	}
	return fmt.Errorf("%s: %s: %w", backend, op, err)
}
