// Package sqlrow holds what the SQL backends share: the column list, the
// conversion between an accountvault.Account and the values of one row,
// table-name validation, and the description of the schema that Migrate
// checks an adopted table against (Schema, TableError).
//
// Conventions (both backends): the three tokens are BLOB/BYTEA, an empty
// token is stored as NULL; scope and password are TEXT, an empty value is
// stored as NULL; NULL and an empty value both read back as "". Times are
// whole epoch seconds, read back as UTC.
package sqlrow

import (
	"time"

	"github.com/accountvault/accountvault"
)

// Columns is the column list of every SELECT and RETURNING, in the order of
// Row.Dest.
const Columns = "id, user_id, provider_id, account_id, " +
	"access_token, refresh_token, id_token, " +
	"access_token_expires_at, refresh_token_expires_at, " +
	"scope, password, created_at, updated_at"

// NumColumns is the number of names in Columns.
const NumColumns = 13

// Row holds one row's values as the drivers exchange them.
type Row struct {
	ID, UserID, ProviderID, AccountID string

	AccessToken, RefreshToken, IDToken []byte // nil is NULL

	AccessTokenExpiresAt, RefreshTokenExpiresAt *int64 // nil is NULL

	Scope, Password *string // nil is NULL

	CreatedAt, UpdatedAt int64
}

// Dest returns pointers to r's fields in Columns order, for Scan. Both
// database/sql and pgx scan NULL into a nil slice or pointer.
func (r *Row) Dest() []any {
	return []any{
		&r.ID, &r.UserID, &r.ProviderID, &r.AccountID,
		&r.AccessToken, &r.RefreshToken, &r.IDToken,
		&r.AccessTokenExpiresAt, &r.RefreshTokenExpiresAt,
		&r.Scope, &r.Password, &r.CreatedAt, &r.UpdatedAt,
	}
}

// Args returns r's values in Columns order, for an INSERT.
func (r *Row) Args() []any {
	return []any{
		r.ID, r.UserID, r.ProviderID, r.AccountID,
		r.AccessToken, r.RefreshToken, r.IDToken,
		r.AccessTokenExpiresAt, r.RefreshTokenExpiresAt,
		r.Scope, r.Password, r.CreatedAt, r.UpdatedAt,
	}
}

// FromAccount converts a for writing. A zero CreatedAt or UpdatedAt becomes
// now. a must have passed Validate.
func FromAccount(a *accountvault.Account, now time.Time) Row {
	r := Row{
		ID:                    a.ID,
		UserID:                a.UserID,
		ProviderID:            a.ProviderID,
		AccountID:             a.AccountID,
		AccessToken:           Blob(a.AccessToken),
		RefreshToken:          Blob(a.RefreshToken),
		IDToken:               Blob(a.IDToken),
		AccessTokenExpiresAt:  epoch(a.AccessTokenExpiresAt),
		RefreshTokenExpiresAt: epoch(a.RefreshTokenExpiresAt),
		Scope:                 NullText(a.Scope),
		Password:              NullText(a.Password.Reveal()),
		CreatedAt:             a.CreatedAt.Unix(),
		UpdatedAt:             a.UpdatedAt.Unix(),
	}
	if a.CreatedAt.IsZero() {
		r.CreatedAt = now.Unix()
	}
	if a.UpdatedAt.IsZero() {
		r.UpdatedAt = now.Unix()
	}
	return r
}

// Account converts r as read.
func (r *Row) Account() accountvault.Account {
	return accountvault.Account{
		ID:                    r.ID,
		UserID:                r.UserID,
		ProviderID:            r.ProviderID,
		AccountID:             r.AccountID,
		AccessToken:           accountvault.Secret(r.AccessToken),
		RefreshToken:          accountvault.Secret(r.RefreshToken),
		IDToken:               accountvault.Secret(r.IDToken),
		AccessTokenExpiresAt:  timePtr(r.AccessTokenExpiresAt),
		RefreshTokenExpiresAt: timePtr(r.RefreshTokenExpiresAt),
		Scope:                 text(r.Scope),
		Password:              accountvault.Secret(text(r.Password)),
		CreatedAt:             Time(r.CreatedAt),
		UpdatedAt:             Time(r.UpdatedAt),
	}
}

// Blob returns s as bytes, or nil (NULL) if s is empty.
func Blob(s accountvault.Secret) []byte {
	if s == "" {
		return nil
	}
	return []byte(s.Reveal())
}

// NullText returns a pointer to s, or nil (NULL) if s is empty.
func NullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Time converts epoch seconds to a UTC time.Time.
func Time(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

func text(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func epoch(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	s := t.Unix()
	return &s
}

func timePtr(sec *int64) *time.Time {
	if sec == nil {
		return nil
	}
	t := Time(*sec)
	return &t
}
