package sqlrow

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// DefaultTable is the table name a backend uses unless told otherwise.
const DefaultTable = "accounts"

// SchemaTable records, per accounts table, the schema version Migrate
// brought it to. It is reserved: no accounts table may take its name.
const SchemaTable = "accountvault_schema"

// MetaTable holds, per accounts table, the named values of
// accountvault.Metadata. It is reserved like SchemaTable.
const MetaTable = "accountvault_meta"

// Meta names that the backends themselves write.
const (
	// MetaLegacy is set to LegacyOpen by Adopt when it converts a foreign
	// table: until the store declares legacy sealing finished, the table
	// may hold legacy plaintext.
	MetaLegacy = "legacy"
	// LegacyOpen is MetaLegacy's value.
	LegacyOpen = "open"
)

// MaxIdentLen is the longest identifier accepted, Postgres' NAMEDATALEN-1.
const MaxIdentLen = 63

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// ErrBadIdent is wrapped by the error CheckIdent returns.
var ErrBadIdent = errors.New("invalid SQL identifier")

// CheckIdent reports whether name is acceptable as a table or schema name:
// an ASCII letter or underscore followed by up to 62 letters, digits or
// underscores. Names are quoted in SQL anyway; the restriction keeps them
// portable between backends and free of any quoting concern. The error
// quotes name, which is configuration, not a secret.
func CheckIdent(kind, name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("%w: %s name %q must match %s", ErrBadIdent, kind, name, identRE)
	}
	if strings.EqualFold(name, SchemaTable) || strings.EqualFold(name, MetaTable) {
		return fmt.Errorf("%w: %s name %q is reserved for accountvault's own tables", ErrBadIdent, kind, name)
	}
	return nil
}

// Quote returns name as a double-quoted SQL identifier. name must have
// passed CheckIdent; Quote still doubles any quote character.
func Quote(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// IndexName returns the name of an index on table: table_suffix, or, when
// that would exceed MaxIdentLen (Postgres would silently truncate it and
// two long table names could then share one index name), a prefix of table
// followed by a short hash of the whole table name and the suffix.
func IndexName(table, suffix string) string {
	name := table + "_" + suffix
	if len(name) <= MaxIdentLen {
		return name
	}
	sum := sha256.Sum256([]byte(table))
	h := hex.EncodeToString(sum[:4])
	keep := MaxIdentLen - len(suffix) - len(h) - 2
	return table[:keep] + "_" + h + "_" + suffix
}
