package betterauth

import (
	"errors"
	"strconv"
)

var (
	// ErrNotBetterAuth is returned by Open, unwrapped, for a value that does
	// not have the shape of better-auth ciphertext. It was not decrypted.
	ErrNotBetterAuth = errors.New("betterauth: not a better-auth encrypted value")

	// ErrBetterAuthDecrypt is wrapped by the *OpenError that Open returns for
	// a value that has the shape of better-auth ciphertext and does not open.
	ErrBetterAuthDecrypt = errors.New("betterauth: better-auth encrypted value does not open")

	// ErrNoSecret is wrapped, with ErrBetterAuthDecrypt, by the *OpenError
	// for a value whose secret is not configured: an envelope of a version
	// the secrets do not hold, or a bare value and no unversioned secret.
	ErrNoSecret = errors.New("betterauth: the secret of the value is not configured")
)

// An OpenError reports why a value that has the shape of better-auth
// ciphertext does not open. It holds neither the value nor a secret.
type OpenError struct {
	// Envelope is true for a value that begins with "$ba$", false for
	// bare hex.
	Envelope bool
	// Version is the envelope's secret version, or -1 if the value is
	// bare or its version could not be read.
	Version int64
	// Reason is a fixed description of the failure.
	Reason string

	noSecret bool
}

// Error returns a description that names the kind of value and the
// reason, never the value.
func (e *OpenError) Error() string {
	var what string
	switch {
	case !e.Envelope:
		what = "bare hex value"
	case e.Version >= 0:
		what = "$ba$ value of secret version " + strconv.FormatInt(e.Version, 10)
	default:
		what = "$ba$ value"
	}
	msg := "betterauth: " + what + " does not open: " + e.Reason
	if !e.Envelope && !e.noSecret {
		// The one ambiguity the format leaves (see the package doc).
		msg += " (a wrong or missing secret, an altered value, or a plaintext token that happens to be hex)"
	}
	return msg
}

// Unwrap returns ErrBetterAuthDecrypt, and ErrNoSecret if the value's
// secret is not configured.
func (e *OpenError) Unwrap() []error {
	if e.noSecret {
		return []error{ErrBetterAuthDecrypt, ErrNoSecret}
	}
	return []error{ErrBetterAuthDecrypt}
}
