package store

import (
	"bytes"
	"errors"
	"unicode/utf8"

	"github.com/accountvault/accountvault/crypto/betterauth"
	"github.com/accountvault/accountvault/crypto/envelope"
)

// ErrBetterAuthCiphertext is wrapped by the failure of a legacy token value
// that has the shape of better-auth ciphertext (see
// [betterauth.LooksEncrypted]) and that the store did not open: no
// better-auth setting was given ([WithBetterAuthSecrets] or
// [WithBetterAuthPlaintext]), the value does not open under the secrets
// given, or it is a "$ba$" value in a table declared never encrypted. The
// error is a *[BetterAuthError]; when an opening was tried, or when the
// value names a secret the store does not have, it also wraps the
// *[betterauth.OpenError] ([betterauth.ErrBetterAuthDecrypt],
// [betterauth.ErrNoSecret]). Such a value is never sealed and never
// returned as a token.
var ErrBetterAuthCiphertext = errors.New("store: legacy value may be better-auth ciphertext and was not opened")

// A BetterAuthError reports why a legacy token value that has the shape of
// better-auth ciphertext was not taken for a token. It holds neither the
// value nor a secret.
type BetterAuthError struct {
	// Reason says what was missing or what failed, and which option
	// decides.
	Reason string
	// Err is the *betterauth.OpenError of the opening, or nil.
	Err error
}

func (e *BetterAuthError) Error() string {
	msg := "store: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns ErrBetterAuthCiphertext and the opening's error.
func (e *BetterAuthError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrBetterAuthCiphertext}
	}
	return []error{ErrBetterAuthCiphertext, e.Err}
}

// The reasons of BetterAuthErrors. They name the options of the store and
// of the CLI, which an operator reads.
const (
	reasonUndeclared = "the value has the shape of better-auth ciphertext (encryptOAuthTokens), and nothing says whether better-auth encrypted this table's tokens: " +
		"give its secrets (store.WithBetterAuthSecrets; accountvault migrate reads BETTER_AUTH_SECRET and BETTER_AUTH_SECRETS, see --better-auth-secret-env), " +
		"or declare that encryption was never on (store.WithBetterAuthPlaintext; accountvault migrate --better-auth-plaintext)"
	reasonEnvelopeUndeclared = "the value is better-auth ciphertext ($ba$ envelope) and no better-auth secret is given: " +
		"give the deployment's secrets (store.WithBetterAuthSecrets; accountvault migrate reads BETTER_AUTH_SECRETS and BETTER_AUTH_SECRET, see --better-auth-secrets-env)"
	reasonEnvelopePlaintext = "the value claims to be better-auth ciphertext ($ba$ envelope) in a table declared never encrypted (store.WithBetterAuthPlaintext, --better-auth-plaintext): " +
		"planted or the declaration is wrong; if better-auth did encrypt tokens, give its secrets instead"
	reasonNotOpened  = "the value has the shape of better-auth ciphertext and does not open under the better-auth secrets given"
	reasonIDEnvelope = "an ID token value claims to be better-auth ciphertext ($ba$ envelope), which better-auth never writes: planted or corrupt"
	reasonNotText    = "the value opened under the better-auth secrets to bytes that are not a token (not UTF-8 text, or holds a NUL byte)"
)

// betterAuthMode is how a store treats legacy values that have the shape
// of better-auth ciphertext (WithBetterAuthSecrets, WithBetterAuthPlaintext).
type betterAuthMode struct {
	secrets   *betterauth.Secrets // set by WithBetterAuthSecrets
	plaintext bool                // set by WithBetterAuthPlaintext
}

// WithBetterAuthSecrets gives the store the secrets of the better-auth
// deployment whose table is being adopted, for its tokens that better-auth
// encrypted (its encryptOAuthTokens option): [Admin.EncryptLegacy] seals
// the tokens they hold, [Admin.Check] counts them apart, and a store in
// legacy-read mode ([WithLegacyPlaintext]) returns the tokens. Build
// secrets with [betterauth.Parse] from the deployment's BETTER_AUTH_SECRETS
// and BETTER_AUTH_SECRET.
//
// With it, a legacy access or refresh token value that has the shape of
// better-auth ciphertext ([betterauth.LooksEncrypted]: a "$ba$" envelope,
// or bare hexadecimal of at least 82 digits) must open under the secret it
// names, or its row fails ([ErrBetterAuthCiphertext]) and is left as it
// is. That includes a plaintext token that happens to be long hex, written
// before encryption was turned on: nothing in such a value tells it from
// ciphertext under a secret that is not given. ID tokens, which
// better-auth never encrypts, are taken as they are (a "$ba$" ID token
// fails). Values without that shape are legacy plaintext, as without the
// option. Sealed values are not affected.
//
// It cannot be combined with [WithBetterAuthPlaintext].
func WithBetterAuthSecrets(secrets *betterauth.Secrets) Option {
	return func(c *config) error {
		if secrets == nil || (len(secrets.Versions()) == 0 && !secrets.HasUnversioned()) {
			return errors.New("store: WithBetterAuthSecrets: no secret")
		}
		c.betterAuth.secrets = secrets
		return nil
	}
}

// WithBetterAuthPlaintext declares that the table being adopted holds no
// better-auth ciphertext: better-auth's encryptOAuthTokens was never on (or
// the table is not better-auth's). A legacy value of bare hexadecimal
// digits is then legacy plaintext, whatever its length, and sealed as it
// is; a "$ba$" value still fails its row ([ErrBetterAuthCiphertext]), as
// better-auth writes that prefix only on ciphertext.
//
// Without either option, a legacy value that has the shape of better-auth
// ciphertext fails its row, in EncryptLegacy, Check and legacy-read mode,
// with a message naming both: a bare hex token of 82 digits or more cannot
// be told from ciphertext, and sealing ciphertext as a token would hand
// the application better-auth ciphertext forever. Shorter hex tokens (a
// 40-digit GitHub token, a 64-digit one) do not have that shape and need
// neither option.
//
// It cannot be combined with [WithBetterAuthSecrets].
func WithBetterAuthPlaintext() Option {
	return func(c *config) error { c.betterAuth.plaintext = true; return nil }
}

// check returns an error if the options contradict each other.
func (m betterAuthMode) check() error {
	if m.plaintext && m.secrets != nil {
		return errors.New("store: WithBetterAuthSecrets and WithBetterAuthPlaintext contradict each other")
	}
	return nil
}

// String names the mode for audit events.
func (m betterAuthMode) String() string {
	switch {
	case m.secrets != nil:
		return "secrets"
	case m.plaintext:
		return "plaintext"
	}
	return "undeclared"
}

// openLegacy returns the token that v, a legacy value of column c, holds:
// v itself, or the token better-auth encrypted into it (encrypted true).
// A value that has the shape of better-auth ciphertext and is not opened
// is an error wrapping ErrBetterAuthCiphertext. The result may alias v.
func (m betterAuthMode) openLegacy(c envelope.Column, v []byte) (tok []byte, encrypted bool, err error) {
	envelopeForm := bytes.HasPrefix(v, []byte(betterauth.EnvelopePrefix))
	if c == envelope.IDToken {
		// better-auth never encrypts ID tokens (a JWT has neither shape).
		if envelopeForm {
			return nil, false, &BetterAuthError{Reason: reasonIDEnvelope}
		}
		return v, false, nil
	}
	if !betterauth.LooksEncrypted(v) {
		return v, false, nil
	}
	switch {
	case m.secrets != nil:
		tok, err := m.secrets.Open(v)
		if err != nil {
			return nil, false, &BetterAuthError{Reason: reasonNotOpened, Err: err}
		}
		if !utf8.Valid(tok) || bytes.IndexByte(tok, 0) >= 0 {
			return nil, false, &BetterAuthError{Reason: reasonNotText}
		}
		return tok, true, nil
	case m.plaintext && envelopeForm:
		return nil, false, &BetterAuthError{Reason: reasonEnvelopePlaintext}
	case m.plaintext:
		return v, false, nil
	}
	// Neither: the opening under no secret says only which secret the
	// value would need (betterauth.ErrNoSecret), and never opens.
	_, oerr := (*betterauth.Secrets)(nil).Open(v)
	reason := reasonUndeclared
	if envelopeForm {
		reason = reasonEnvelopeUndeclared
	}
	return nil, false, &BetterAuthError{Reason: reason, Err: oerr}
}
