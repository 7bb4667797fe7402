package backendtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
)

// calls runs every Backend method once with ctx on rows that exist, so
// that only the context can make them fail.
func calls(b accountvault.Backend, old accountvault.SealedRow) []struct {
	name string
	call func(context.Context) error
} {
	return []struct {
		name string
		call func(context.Context) error
	}{
		{"Upsert", func(ctx context.Context) error {
			_, err := b.Upsert(ctx, account("acc-new", "user-1", "google", "sub-new", "new"))
			return err
		}},
		{"FindByProvider", func(ctx context.Context) error {
			_, err := b.FindByProvider(ctx, "google", "sub-1")
			return err
		}},
		{"FindForUser", func(ctx context.Context) error {
			_, err := b.FindForUser(ctx, "user-1")
			return err
		}},
		{"Unlink", func(ctx context.Context) error { return b.Unlink(ctx, "github", "sub-2") }},
		{"DeleteUser", func(ctx context.Context) error {
			_, err := b.DeleteUser(ctx, "user-del")
			return err
		}},
		{"List", func(ctx context.Context) error {
			_, err := b.List(ctx, "", 100)
			return err
		}},
		{"CompareAndSwap", func(ctx context.Context) error {
			return b.CompareAndSwap(ctx, old, swapped(old, "v2"))
		}},
	}
}

func testCancelled(t *testing.T, b accountvault.Backend) {
	old := mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "v1"))
	second := mustUpsert(t, b, account("acc-2", "user-1", "github", "sub-2", "v1"))
	doomed := mustUpsert(t, b, account("acc-del", "user-del", "google", "sub-del", "v1"))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	past, cancelPast := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancelPast()
	for _, c := range calls(b, old) {
		if err := c.call(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got %v, want an error wrapping context.Canceled", c.name, err)
		}
		if err := c.call(past); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s past its deadline: got %v, want an error wrapping context.DeadlineExceeded", c.name, err)
		}
	}
	// Nothing was written, and the backend still works.
	checkEqual(t, "row after cancelled calls", old, mustFind(t, b, "google", "sub-1"))
	checkEqual(t, "row after cancelled Unlink", second, mustFind(t, b, "github", "sub-2"))
	checkEqual(t, "row after cancelled DeleteUser", doomed, mustFind(t, b, "google", "sub-del"))
	if _, err := b.FindByProvider(t.Context(), "google", "sub-new"); !errors.Is(err, accountvault.ErrNotFound) {
		t.Errorf("cancelled Upsert wrote a row: %v", err)
	}
	for _, c := range calls(b, old) {
		if err := c.call(t.Context()); err != nil {
			t.Errorf("%s after cancelled calls: %v", c.name, err)
		}
	}
}

// testDeadlineMidway lets deadlines expire while calls are in flight, at
// varying points, and checks that whatever the driver was doing, the
// error says why.
func testDeadlineMidway(t *testing.T, b accountvault.Backend) {
	for i := range 200 {
		mustUpsert(t, b, account(fmt.Sprintf("acc-%03d", i), "user-1", "google", fmt.Sprint("sub-", i), "m"))
	}
	old := mustFind(t, b, "google", "sub-0")
	for round, d := range []time.Duration{time.Millisecond, 3 * time.Millisecond, 7 * time.Millisecond, 15 * time.Millisecond} {
		for _, c := range calls(b, old) {
			ctx, cancel := context.WithTimeout(t.Context(), d)
			var err error
			for n := 0; err == nil; n++ {
				if n > 100_000 {
					t.Fatalf("%s: deadline of %v never reported", c.name, d)
				}
				err = c.call(ctx)
				if err != nil && c.name == "Unlink" && errors.Is(err, accountvault.ErrNotFound) {
					err = nil // deleted by an earlier round
				}
				if err != nil && c.name == "CompareAndSwap" && errors.Is(err, accountvault.ErrConflict) {
					err = nil // swapped by an earlier iteration
				}
			}
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("round %d, %s: deadline expired with %v, want an error wrapping context.DeadlineExceeded", round, c.name, err)
			}
		}
	}
	// The backend still works afterwards.
	if _, err := b.List(t.Context(), "", 1000); err != nil {
		t.Fatalf("List after expired deadlines: %v", err)
	}
	mustFind(t, b, "google", "sub-1")
}

func testTableNamer(t *testing.T, b accountvault.Backend) {
	tn, ok := b.(accountvault.TableNamer)
	if !ok {
		t.Skip("backend does not implement accountvault.TableNamer")
	}
	if tn.Table() == "" {
		t.Error("Table() is empty")
	}
}
