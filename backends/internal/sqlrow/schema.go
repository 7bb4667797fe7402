package sqlrow

import (
	"github.com/accountvault/accountvault"

	"fmt"
	"strings"
)

// A Kind is what a column of the accounts table holds.
type Kind int

const (
	// KindText is a TEXT column: an id, scope or password hash.
	KindText Kind = iota
	// KindToken is a BLOB (SQLite) or BYTEA (Postgres) token column.
	KindToken
	// KindTime is an INTEGER (SQLite) or BIGINT (Postgres) column of epoch
	// seconds.
	KindTime
)

// A Column describes one column of the accounts table.
type Column struct {
	Name    string
	Kind    Kind
	NotNull bool
}

// Schema lists the columns of the accounts table in Columns order. A table
// adopted by Adopt must have every one of them, under these names.
var Schema = [NumColumns]Column{
	{"id", KindText, true},
	{"user_id", KindText, true},
	{"provider_id", KindText, true},
	{"account_id", KindText, true},
	{"access_token", KindToken, false},
	{"refresh_token", KindToken, false},
	{"id_token", KindToken, false},
	{"access_token_expires_at", KindTime, false},
	{"refresh_token_expires_at", KindTime, false},
	{"scope", KindText, false},
	{"password", KindText, false},
	{"created_at", KindTime, true},
	{"updated_at", KindTime, true},
}

// MaxEpochSeconds bounds the integer times Adopt accepts from an adopted
// table, in absolute value: 1e11 seconds is the year 5138, while 1e11
// milliseconds is March 1973. A larger value is taken for milliseconds,
// which Adopt refuses to guess about.
const MaxEpochSeconds = 100_000_000_000

// TableError is the root package's error type; the backends return it for
// every table they cannot use or adopt.
type TableError = accountvault.TableError

// MissingColumn returns the *TableError for a required column that the
// table lacks. has reports whether the table has a column of a given name.
func MissingColumn(table, column string, has func(string) bool) *TableError {
	reason := "is missing"
	if c := CamelCase(column); c != column && has(c) {
		reason += fmt.Sprintf(" (the table has %q, better-auth's name for it: Adopt renames such columns; Migrate does not)", c)
	}
	return &TableError{Table: table, Column: column, Reason: reason}
}

// A Rename is one column that Adopt renames from better-auth's camelCase
// name to the schema's snake_case name.
type Rename struct{ From, To string }

// Renames returns the columns of Schema that the table lacks under their
// snake_case name but has under better-auth's camelCase name (userId for
// user_id), in Schema order. has reports whether the table has a column of
// a given name, matched as the database matches names. A table that has
// both names of a column keeps both: the snake_case one is the schema's,
// the camelCase one another column, left alone.
func Renames(has func(string) bool) []Rename {
	var out []Rename
	for _, sc := range Schema {
		c := CamelCase(sc.Name)
		if c != sc.Name && !has(sc.Name) && has(c) {
			out = append(out, Rename{From: c, To: sc.Name})
		}
	}
	return out
}

// CamelCase returns better-auth's default name of a snake_case column:
// "user_id" becomes "userId".
func CamelCase(name string) string {
	parts := strings.Split(name, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// RowHint returns " (for example row id "x")" for an offending row's id,
// or "" if the id is not a short storable string. Ids are stored in clear
// and may appear in errors; values never do.
func RowHint(id *string) string {
	if id == nil || *id == "" || len(*id) > 128 || !Storable(*id) {
		return ""
	}
	return fmt.Sprintf(" (for example row id %q)", *id)
}
