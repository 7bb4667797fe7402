package envelope

import (
	"strconv"

	"github.com/accountvault/accountvault/crypto/envelope/internal/format"
)

// Column names one of the sealed token columns of a row.
type Column uint8

// The sealed columns, in the order of [Fields].
const (
	AccessToken Column = iota
	RefreshToken
	IDToken

	// NumColumns is the number of sealed columns.
	NumColumns = 3
)

// String returns the column's name in the table ("access_token",
// "refresh_token", "id_token"), which is also the name bound into the
// associated data.
func (c Column) String() string {
	if int(c) < len(format.ColumnNames) {
		return format.ColumnNames[c]
	}
	return "Column(" + strconv.Itoa(int(c)) + ")"
}

// Place says where a row lives. Every sealed value is bound to its place
// and column: a value moved to another table, user, provider account or
// column fails to open.
//
// Seal and Open bind the strings as they are, byte for byte; an empty
// string is bound as empty. The store passes the row's validated ids and
// the backend's table name.
type Place struct {
	Table      string // the table name, e.g. "accounts"
	UserID     string
	ProviderID string
	AccountID  string
}

// Fields holds one row's token columns, indexed by [Column]. An empty
// (nil or zero-length) field is a column without a value: it is never
// sealed and opens to nil.
type Fields [NumColumns][]byte
