package format

import "github.com/accountvault/accountvault"

// ErrMalformed is wrapped by every error of a value that begins like a
// sealed value but is not well-formed. It wraps [accountvault.ErrDecrypt].
var ErrMalformed error = &wrapError{"envelope: malformed sealed value", accountvault.ErrDecrypt}

// Errors of Parse. They are values so that parsing never allocates.
var (
	errTruncated      = malformed("truncated")
	errMagic          = malformed("bad magic")
	errVersion        = malformed("unsupported version")
	errTooLong        = malformed("longer than the format allows")
	errEmptyWrapped   = malformed("empty wrapped key")
	errEmptyPlaintext = malformed("no ciphertext (an empty token is never sealed)")
)

func malformed(detail string) error {
	return &wrapError{"envelope: malformed sealed value: " + detail, ErrMalformed}
}

// wrapError is an error with a fixed message that wraps a parent sentinel.
type wrapError struct {
	msg    string
	parent error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.parent }

// NewError returns an error with message msg that wraps parent.
func NewError(msg string, parent error) error { return &wrapError{msg, parent} }
