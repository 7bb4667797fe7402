package envelope

import (
	"errors"
	"strings"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope/internal/format"
)

var (
	// ErrMalformed is wrapped by the error for a value that begins with the
	// format's magic byte but is not a well-formed sealed value (bad magic,
	// unknown version, truncated, bad lengths), and for a text form that
	// does not decode. It wraps [accountvault.ErrDecrypt].
	ErrMalformed = format.ErrMalformed

	// ErrTooLarge: a plaintext field exceeds [MaxPlaintext] bytes. It wraps
	// [accountvault.ErrInvalidAccount]: nothing is sealed.
	ErrTooLarge = format.NewError("envelope: token exceeds the 65536-byte limit", accountvault.ErrInvalidAccount)

	// ErrWrappedKeySize: a KEK returned a wrapped data key that is empty or
	// longer than 255 bytes, which the format can not hold.
	ErrWrappedKeySize = errors.New("envelope: KEK returned a wrapped key of unsupported size")
)

// Errors of opening. They wrap accountvault.ErrDecrypt.
var (
	errAuth    = format.NewError("envelope: token failed to authenticate", accountvault.ErrDecrypt)
	errDEKSize = format.NewError("envelope: unwrapped data key has the wrong size", accountvault.ErrDecrypt)
)

// ColumnError reports which column of a row failed to seal, open or rewrap.
// It never contains the column's value. It wraps the cause: test it with
// errors.Is against [accountvault.ErrDecrypt], [accountvault.ErrUnknownKey],
// [accountvault.ErrLegacyPlaintext] or [ErrTooLarge].
type ColumnError struct {
	Column Column
	Err    error
}

func (e *ColumnError) Error() string {
	return "envelope: " + e.Column.String() + ": " + strings.TrimPrefix(e.Err.Error(), "envelope: ")
}

func (e *ColumnError) Unwrap() error { return e.Err }
