package accountvault

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits enforced by [Account.Validate]. Backends refuse larger values with
// [ErrInvalidAccount] before touching the database.
const (
	// MaxIDSize bounds ID, UserID, ProviderID and AccountID, in bytes.
	MaxIDSize = 1 << 10
	// MaxScopeSize bounds Scope, in bytes.
	MaxScopeSize = 4 << 10
	// MaxTokenSize bounds each stored token column, in bytes. It leaves room
	// for the sealed format's overhead above the store's plaintext limit.
	MaxTokenSize = 72 << 10
	// MaxPasswordSize bounds the stored password hash, in bytes.
	MaxPasswordSize = 1 << 10
)

// ProviderCredential is the provider id of rows that hold a password hash
// (better-auth's convention; such a row's AccountID is the user id).
const ProviderCredential = "credential"

// Account is one linked identity: one row of the accounts table, in the shape
// of better-auth's account table.
//
// ID, UserID, ProviderID and AccountID are stored in clear. The three tokens
// are sealed by the store before they reach a backend; Password holds a
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

// Validate checks the Account against the limits above: the four ids are
// non-empty, every text field is valid UTF-8 without NUL bytes (Postgres
// TEXT refuses NUL, and both backends must behave alike), and every field is
// within its size limit. Tokens are opaque bytes and only their size is
// checked.
//
// The error is an *[InvalidAccountError] wrapping [ErrInvalidAccount]; it
// names the field and never contains its value.
func (a *Account) Validate() error {
	ids := []struct {
		name, v string
	}{
		{"ID", a.ID}, {"UserID", a.UserID}, {"ProviderID", a.ProviderID}, {"AccountID", a.AccountID},
	}
	for _, f := range ids {
		if f.v == "" {
			return &InvalidAccountError{Field: f.name, Reason: "is empty"}
		}
		if err := checkText(f.name, f.v, MaxIDSize); err != nil {
			return err
		}
	}
	if err := checkText("Scope", a.Scope, MaxScopeSize); err != nil {
		return err
	}
	if err := checkText("Password", string(a.Password), MaxPasswordSize); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    Secret
	}{{"AccessToken", a.AccessToken}, {"RefreshToken", a.RefreshToken}, {"IDToken", a.IDToken}} {
		if len(f.v) > MaxTokenSize {
			return &InvalidAccountError{Field: f.name, Reason: "exceeds " + strconv.Itoa(MaxTokenSize) + " bytes"}
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
