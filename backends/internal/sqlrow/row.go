// Package sqlrow holds what the SQL backends share: the column list, the
// conversion between an accountvault.SealedRow and the values of one row,
// table-name validation, and the description of the schema that Migrate
// checks an adopted table against (Schema, TableError).
//
// Conventions (both backends): the three tokens are BLOB/BYTEA, an empty
// token is stored as NULL; scope and password are TEXT, an empty value is
// stored as NULL; NULL and an empty value both read back as "". Times are
// whole epoch seconds, read back as UTC.
package sqlrow

import (
	"fmt"
	"strings"
	"time"

	"github.com/accountvault/accountvault"
)

// Columns is the column list of every SELECT and RETURNING, in the order of
// Row.Dest: accountvault.Columns, joined.
var Columns = strings.Join(accountvault.Columns(), ", ")

// NumColumns is the number of names in Columns.
const NumColumns = 13

// Row holds one row's values as the drivers exchange them.
type Row struct {
	ID, UserID, ProviderID, AccountID string

	AccessToken, RefreshToken, IDToken []byte // nil is NULL

	AccessTokenExpiresAt, RefreshTokenExpiresAt *int64 // nil is NULL

	Scope, Password *string // nil is NULL

	CreatedAt, UpdatedAt int64

	// lenient rows scan their times into times, and settle checks them.
	lenient bool
	times   [numTimes]TimeValue
}

// numTimes is the number of time columns; timeColumns are their positions
// in Columns, in the order of Row.times.
const numTimes = 4

var timeColumns = [numTimes]int{7, 8, 11, 12}

// Dest returns pointers to r's fields in Columns order, for Scan. Both
// database/sql and pgx scan NULL into a nil slice or pointer.
func (r *Row) Dest() []any {
	d := new([NumColumns]any)
	r.destInto(d)
	return d[:]
}

// destInto fills d with pointers to r's fields in Columns order; for a
// lenient row, the times are TimeValues.
func (r *Row) destInto(d *[NumColumns]any) {
	*d = [NumColumns]any{
		&r.ID, &r.UserID, &r.ProviderID, &r.AccountID,
		&r.AccessToken, &r.RefreshToken, &r.IDToken,
		&r.AccessTokenExpiresAt, &r.RefreshTokenExpiresAt,
		&r.Scope, &r.Password, &r.CreatedAt, &r.UpdatedAt,
	}
	if r.lenient {
		for i, c := range timeColumns {
			d[c] = &r.times[i]
		}
	}
}

// TimeValue scans a time column whatever the value's type, for a database
// whose columns may hold any (SQLite): an integer is epoch seconds; any
// other non-NULL value is recorded as what it is, never converted.
type TimeValue struct {
	Sec   int64
	Valid bool   // not NULL
	Bad   string // what the value is when it is not an integer: "TEXT", "REAL", …
}

// Scan implements database/sql.Scanner.
func (t *TimeValue) Scan(src any) error {
	*t = TimeValue{}
	switch v := src.(type) {
	case nil:
	case int64:
		t.Sec, t.Valid = v, true
	case float64:
		t.Bad = "a REAL"
	case string, time.Time:
		t.Bad = "TEXT"
	case []byte:
		t.Bad = "a BLOB"
	default:
		t.Bad = "a value of another type"
	}
	return nil
}

// settle moves the times of a lenient row from its TimeValues to its
// fields. It returns a *accountvault.RowError wrapping
// accountvault.ErrInvalidTime, naming the row and the first time column
// that holds no epoch seconds (or NULL where the schema forbids it).
func (r *Row) settle() error {
	if !r.lenient {
		return nil
	}
	for i, c := range timeColumns {
		t := &r.times[i]
		what := t.Bad
		if what == "" && !t.Valid && Schema[c].NotNull {
			what = "NULL"
		}
		if what != "" {
			return &accountvault.RowError{ID: r.ID, Column: Schema[c].Name,
				Err: fmt.Errorf("%w: it holds %s", accountvault.ErrInvalidTime, what)}
		}
		var p *int64
		if t.Valid {
			p = &t.Sec
		}
		switch i {
		case 0:
			r.AccessTokenExpiresAt = p
		case 1:
			r.RefreshTokenExpiresAt = p
		case 2:
			r.CreatedAt = t.Sec
		case 3:
			r.UpdatedAt = t.Sec
		}
	}
	return nil
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

// FromSealed converts a for writing. A zero CreatedAt or UpdatedAt becomes
// now. a must have passed Validate.
func FromSealed(a *accountvault.SealedRow, now time.Time) Row {
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
		Password:              NullSecret(a.Password),
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

// Sealed converts r as read. The row's byte slices become the result's:
// r must not be reused.
func (r *Row) Sealed() accountvault.SealedRow {
	return accountvault.SealedRow{
		ID:                    r.ID,
		UserID:                r.UserID,
		ProviderID:            r.ProviderID,
		AccountID:             r.AccountID,
		AccessToken:           Blob(r.AccessToken),
		RefreshToken:          Blob(r.RefreshToken),
		IDToken:               Blob(r.IDToken),
		AccessTokenExpiresAt:  timePtr(r.AccessTokenExpiresAt),
		RefreshTokenExpiresAt: timePtr(r.RefreshTokenExpiresAt),
		Scope:                 text(r.Scope),
		Password:              accountvault.NewSecret(text(r.Password)),
		CreatedAt:             Time(r.CreatedAt),
		UpdatedAt:             Time(r.UpdatedAt),
	}
}

// Blob returns b, or nil (NULL) if b is empty.
func Blob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// NullSecret returns a pointer to the text of s, or nil (NULL) if s is
// empty.
func NullSecret(s accountvault.Secret) *string {
	if s.IsZero() {
		return nil
	}
	v := s.Reveal()
	return &v
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
