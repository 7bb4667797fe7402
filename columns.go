package accountvault

import "strings"

// Columns returns the column names of the accounts table, in the order
// the backends create them: the one list every backend, test and tool
// works from.
func Columns() []string {
	return []string{
		"id", "user_id", "provider_id", "account_id",
		"access_token", "refresh_token", "id_token",
		"access_token_expires_at", "refresh_token_expires_at",
		"scope", "password", "created_at", "updated_at",
	}
}

// TableInfo is what a database's catalog says of a backend's table, read
// without reading any of its rows. Backends that adopt foreign tables
// describe their table so (an Inspect method), for operator tools.
type TableInfo struct {
	// Exists reports that the name is taken, by a table or another kind
	// of relation (Kind says which: "table", "view", …).
	Exists bool
	Kind   string
	// Columns maps each column's name to its declared type, as the
	// database spells it ("BLOB", "bytea", "timestamp with time zone").
	Columns map[string]string
	// Version is the schema version Migrate or Adopt recorded for the
	// table, 0 if none (a table accountvault did not create).
	Version int
	// FoldCase reports that the database matches column names ignoring
	// ASCII case (SQLite).
	FoldCase bool
}

// Column returns the declared type of the column named name, matched as
// the database matches names, and whether the table has it.
func (t TableInfo) Column(name string) (string, bool) {
	if typ, ok := t.Columns[name]; ok || !t.FoldCase {
		return typ, ok
	}
	for n, typ := range t.Columns {
		if strings.EqualFold(n, name) {
			return typ, true
		}
	}
	return "", false
}
