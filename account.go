package accountvault

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits enforced by [Account.Validate] and [SealedRow.Validate]. Backends
// refuse larger values with [ErrInvalidAccount] before touching the
// database.
const (
	// MaxIDSize bounds ID, UserID, ProviderID and AccountID, in bytes.
	MaxIDSize = 1 << 10
	// MaxScopeSize bounds Scope, in bytes.
	MaxScopeSize = 4 << 10
	// MaxTokenSize bounds each stored (sealed) token column, in bytes. It
	// leaves room for the sealed format's overhead above the store's
	// plaintext limit.
	MaxTokenSize = 72 << 10
	// MaxPasswordSize bounds the stored password hash, in bytes.
	MaxPasswordSize = 1 << 10
)

// ProviderCredential is the provider id of rows that hold a password hash
// (better-auth's convention; such a row's AccountID is the user id).
const ProviderCredential = "credential"

// Account is one linked identity as the application sees it: one row of the
// accounts table, in the shape of better-auth's account table, with its
// tokens in plaintext. Only package store takes and returns Accounts; it
// seals the tokens into a [SealedRow] before a [Backend] sees them.
//
// ID, UserID, ProviderID and AccountID are stored in clear. Password holds a
// password hash, never a password. Times are stored as whole epoch seconds.
type Account struct {
	ID         string // row id, chosen by the caller; kept on re-link
	UserID     string // the application's user
	ProviderID string // "google", "github", "credential", …
	AccountID  string // the provider's subject for this user

	AccessToken  Secret
	RefreshToken Secret
	IDToken      Secret

	AccessTokenExpiresAt  *time.Time // nil if unknown
	RefreshTokenExpiresAt *time.Time // nil if unknown

	Scope    string
	Password Secret // a password hash (PHC string or a legacy format), only for ProviderCredential

	CreatedAt time.Time // set by the backend on insert if zero; kept on re-link
	UpdatedAt time.Time // set by the backend on every write if zero
}

// SealedRow is one row as a [Backend] stores it: the Account's fields, with
// each token replaced by its sealed value (crypto/envelope, FORMAT.md), an
// opaque byte string that only the store can open. A plaintext token has no
// place in it: backends never see one.
//
// A nil or empty token is stored as NULL and reads back as nil.
type SealedRow struct {
	ID         string
	UserID     string
	ProviderID string
	AccountID  string

	AccessToken  []byte // sealed
	RefreshToken []byte // sealed
	IDToken      []byte // sealed

	AccessTokenExpiresAt  *time.Time
	RefreshTokenExpiresAt *time.Time

	Scope    string
	Password Secret // a password hash; see Account.Password

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Validate checks the Account against the limits above: the four ids are
// non-empty, every text field is valid UTF-8 without NUL bytes (Postgres
// TEXT refuses NUL, and both backends must behave alike), and every field is
// within its size limit. Tokens are opaque bytes and only their size is
// checked.
//
// The error is an *[InvalidAccountError] wrapping [ErrInvalidAccount]; it
// names the field and never contains its value.
func (a *Account) Validate() error {
	return validate(a.ID, a.UserID, a.ProviderID, a.AccountID, a.Scope, a.Password,
		[3]int{a.AccessToken.Len(), a.RefreshToken.Len(), a.IDToken.Len()})
}

// Validate checks the row as [Account.Validate] checks an Account, with the
// sealed token values in place of the plaintext ones.
func (r *SealedRow) Validate() error {
	return validate(r.ID, r.UserID, r.ProviderID, r.AccountID, r.Scope, r.Password,
		[3]int{len(r.AccessToken), len(r.RefreshToken), len(r.IDToken)})
}

// tokenFields names the three token fields, in the order of the sealed
// format's column numbers (crypto/envelope.Column).
var tokenFields = [3]string{"AccessToken", "RefreshToken", "IDToken"}

func validate(id, userID, providerID, accountID, scope string, password Secret, tokenLens [3]int) error {
	ids := [...]struct {
		name, v string
	}{
		{"ID", id}, {"UserID", userID}, {"ProviderID", providerID}, {"AccountID", accountID},
	}
	for _, f := range ids {
		if f.v == "" {
			return &InvalidAccountError{Field: f.name, Reason: "is empty"}
		}
		if err := checkText(f.name, f.v, MaxIDSize); err != nil {
			return err
		}
	}
	if err := checkText("Scope", scope, MaxScopeSize); err != nil {
		return err
	}
	if err := checkTextBytes("Password", password.Bytes(), MaxPasswordSize); err != nil {
		return err
	}
	for i, n := range tokenLens {
		if n > MaxTokenSize {
			return &InvalidAccountError{Field: tokenFields[i], Reason: "exceeds " + strconv.Itoa(MaxTokenSize) + " bytes"}
		}
	}
	return nil
}

func checkText(field, v string, max int) error {
	switch {
	case len(v) > max:
		return &InvalidAccountError{Field: field, Reason: "exceeds " + strconv.Itoa(max) + " bytes"}
	case !utf8.ValidString(v):
		return &InvalidAccountError{Field: field, Reason: "is not valid UTF-8"}
	case strings.IndexByte(v, 0) >= 0:
		return &InvalidAccountError{Field: field, Reason: "contains a NUL byte"}
	}
	return nil
}

func checkTextBytes(field string, v []byte, max int) error {
	switch {
	case len(v) > max:
		return &InvalidAccountError{Field: field, Reason: "exceeds " + strconv.Itoa(max) + " bytes"}
	case !utf8.Valid(v):
		return &InvalidAccountError{Field: field, Reason: "is not valid UTF-8"}
	case strings.IndexByte(string(v), 0) >= 0:
		return &InvalidAccountError{Field: field, Reason: "contains a NUL byte"}
	}
	return nil
}
