package backendtest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/accountvault/accountvault"
)

// testMetadata checks accountvault.Metadata, for backends that implement
// it: unset names read as ErrNotFound; SwapMeta sets, replaces and unsets
// a value only from the value the caller names, and a stale swap changes
// nothing; values are bytes, kept exactly; names are per table; of
// concurrent swaps from the same value, exactly one wins.
func testMetadata(t *testing.T, b accountvault.Backend) {
	m, ok := b.(accountvault.Metadata)
	if !ok {
		t.Skip("the backend keeps no metadata")
	}
	ctx := context.Background()
	get := func(name string) ([]byte, error) { return m.Meta(ctx, name) }
	if _, err := get("n"); !errors.Is(err, accountvault.ErrNotFound) {
		t.Fatalf("Meta of an unset name: %v, want ErrNotFound", err)
	}
	v1 := []byte{0, 1, 0xff, 'a'}
	if err := m.SwapMeta(ctx, "n", nil, v1); err != nil {
		t.Fatalf("setting an unset name: %v", err)
	}
	if got, err := get("n"); err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("Meta after set: %x, %v; want %x", got, err, v1)
	}
	if err := m.SwapMeta(ctx, "n", nil, []byte("x")); !errors.Is(err, accountvault.ErrConflict) {
		t.Fatalf("setting a name that is set: %v, want ErrConflict", err)
	}
	if err := m.SwapMeta(ctx, "n", []byte("stale"), []byte("x")); !errors.Is(err, accountvault.ErrConflict) {
		t.Fatalf("a stale swap: %v, want ErrConflict", err)
	}
	if got, err := get("n"); err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("after a refused swap: %x, %v; want %x", got, err, v1)
	}
	v2 := bytes.Repeat([]byte{7}, accountvault.MaxMetaSize)
	if err := m.SwapMeta(ctx, "n", v1, v2); err != nil {
		t.Fatalf("replacing the value: %v", err)
	}
	if got, err := get("n"); err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("the replaced value reads back otherwise (%v)", err)
	}
	if err := m.SwapMeta(ctx, "n", v2, make([]byte, accountvault.MaxMetaSize+1)); !errors.Is(err, accountvault.ErrInvalidArgument) {
		t.Fatalf("an oversize value: %v, want ErrInvalidArgument", err)
	}
	if err := m.SwapMeta(ctx, "", nil, v1); !errors.Is(err, accountvault.ErrInvalidArgument) {
		t.Fatalf("an empty name: %v, want ErrInvalidArgument", err)
	}
	if err := m.SwapMeta(ctx, "n", v1, nil); !errors.Is(err, accountvault.ErrConflict) {
		t.Fatalf("unsetting from a stale value: %v, want ErrConflict", err)
	}
	if err := m.SwapMeta(ctx, "n", v2, nil); err != nil {
		t.Fatalf("unsetting: %v", err)
	}
	if _, err := get("n"); !errors.Is(err, accountvault.ErrNotFound) {
		t.Fatalf("Meta after unset: %v, want ErrNotFound", err)
	}
	if err := m.SwapMeta(ctx, "n", nil, nil); err != nil {
		t.Fatalf("unset to unset: %v", err)
	}
	if err := m.SwapMeta(ctx, "other", nil, []byte("o")); err != nil {
		t.Fatal(err)
	}
	if err := m.SwapMeta(ctx, "other", nil, nil); !errors.Is(err, accountvault.ErrConflict) {
		t.Fatalf("unset to unset of a set name: %v, want ErrConflict", err)
	}

	// Of concurrent swaps from one value, exactly one wins.
	if err := m.SwapMeta(ctx, "race", nil, []byte("0")); err != nil {
		t.Fatal(err)
	}
	const racers = 8
	var wg sync.WaitGroup
	wins := make(chan int, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := m.SwapMeta(ctx, "race", []byte("0"), []byte{'a' + byte(i)})
			switch {
			case err == nil:
				wins <- i
			case !errors.Is(err, accountvault.ErrConflict):
				t.Errorf("racer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	close(wins)
	var won []int
	for i := range wins {
		won = append(won, i)
	}
	if len(won) != 1 {
		t.Fatalf("%d concurrent swaps from one value won, want 1", len(won))
	}
	if got, err := get("race"); err != nil || !bytes.Equal(got, []byte{'a' + byte(won[0])}) {
		t.Fatalf("the value %q (%v) is not the winner's", got, err)
	}
}
