package postgres_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/pgtest"
)

// TestMetaTooLarge: a metadata value larger than MaxMetaSize, which only
// SQL can write, is refused with ErrMetaTooLarge before it is read into
// memory; one of exactly MaxMetaSize bytes reads.
func TestMetaTooLarge(t *testing.T) {
	pool := pgtest.Pool(t)
	b := newBackend(t, pool)
	for _, n := range []int{accountvault.MaxMetaSize, accountvault.MaxMetaSize + 1} {
		v := bytes.Repeat([]byte{'x'}, n)
		if _, err := pool.Exec(t.Context(), `INSERT INTO accountvault_meta (table_name, name, value) VALUES ($1, 'big', $2)
			ON CONFLICT (table_name, name) DO UPDATE SET value = EXCLUDED.value`, b.Table(), v); err != nil {
			t.Fatal(err)
		}
		got, err := b.Meta(t.Context(), "big")
		switch {
		case n <= accountvault.MaxMetaSize && (err != nil || !bytes.Equal(got, v)):
			t.Errorf("Meta of a %d-byte value: %d bytes, %v", n, len(got), err)
		case n > accountvault.MaxMetaSize && (!errors.Is(err, accountvault.ErrMetaTooLarge) || got != nil):
			t.Errorf("Meta of a %d-byte value: %d bytes, %v; want ErrMetaTooLarge", n, len(got), err)
		}
	}
}
