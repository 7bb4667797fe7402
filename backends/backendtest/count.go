package backendtest

import (
	"context"
	"errors"
	"testing"

	"github.com/accountvault/accountvault"
)

// counter is the optional method of a backend that can count its rows, as
// backends/sqlite and backends/postgres do (the command-line tool uses it
// to estimate the time a walk over the table will take).
type counter interface {
	Count(ctx context.Context) (int64, error)
}

func testCount(t *testing.T, b accountvault.Backend) {
	c, ok := b.(counter)
	if !ok {
		t.Skip("the backend has no Count method")
	}
	check := func(what string, want int64) {
		t.Helper()
		n, err := c.Count(t.Context())
		if err != nil || n != want {
			t.Errorf("Count %s: %d, %v; want %d", what, n, err, want)
		}
	}
	check("of an empty table", 0)
	mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "one"))
	mustUpsert(t, b, account("acc-2", "user-1", "github", "sub-2", "two"))
	mustUpsert(t, b, account("acc-3", "user-2", "google", "sub-3", "three"))
	check("after three inserts", 3)
	// An update, and a re-link under another id, add no row.
	mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "one-b"))
	mustUpsert(t, b, account("acc-9", "user-2", "google", "sub-3", "three-b"))
	check("after two updates", 3)
	invalid := account("acc-4", "user-1", "google", "", "bad")
	if _, err := b.Upsert(t.Context(), invalid); !errors.Is(err, accountvault.ErrInvalidAccount) {
		t.Fatalf("Upsert of an invalid row: %v, want ErrInvalidAccount", err)
	}
	check("after a refused insert", 3)
	if err := b.Unlink(t.Context(), "github", "sub-2"); err != nil {
		t.Fatal(err)
	}
	check("after an unlink", 2)
	if n, err := b.DeleteUser(t.Context(), "user-2"); err != nil || n != 1 {
		t.Fatalf("DeleteUser(user-2) = %d, %v; want 1, nil", n, err)
	}
	check("after a DeleteUser", 1)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if n, err := c.Count(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Count with a cancelled context: %d, %v; want an error wrapping context.Canceled", n, err)
	}
}
