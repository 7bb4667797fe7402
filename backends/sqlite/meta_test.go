package sqlite_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/accountvault/accountvault"
)

// TestMetaTooLarge: a metadata value larger than MaxMetaSize, which only
// SQL can write, is refused with ErrMetaTooLarge before it is read into
// memory; one of exactly MaxMetaSize bytes reads, as BLOB or as TEXT.
func TestMetaTooLarge(t *testing.T) {
	b, db := openRaw(t, `SELECT 1`)
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n    int
		cast string
	}{{accountvault.MaxMetaSize, "BLOB"}, {accountvault.MaxMetaSize, "TEXT"}, {accountvault.MaxMetaSize + 1, "BLOB"}, {accountvault.MaxMetaSize + 1, "TEXT"}} {
		v := bytes.Repeat([]byte{'x'}, c.n)
		if _, err := db.ExecContext(t.Context(), `INSERT OR REPLACE INTO accountvault_meta (table_name, name, value) VALUES (?, 'big', CAST(? AS `+c.cast+`))`, b.Table(), v); err != nil {
			t.Fatal(err)
		}
		got, err := b.Meta(t.Context(), "big")
		switch {
		case c.n <= accountvault.MaxMetaSize && (err != nil || !bytes.Equal(got, v)):
			t.Errorf("Meta of a %d-byte %s: %d bytes, %v", c.n, c.cast, len(got), err)
		case c.n > accountvault.MaxMetaSize && (!errors.Is(err, accountvault.ErrMetaTooLarge) || got != nil):
			t.Errorf("Meta of a %d-byte %s: %d bytes, %v; want ErrMetaTooLarge", c.n, c.cast, len(got), err)
		}
	}
}
