package backendtest

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
)

// byteOrderIDs sort differently in byte order than in any linguistic
// collation (case, accents, punctuation, scripts).
var byteOrderIDs = []string{
	"b", "B", "a", "A", "Z", "z", "_", "-", ".", "~", "0", "9",
	"é", "e", "f", "É", "ё", "日本", "ab", "aB", "a b", "a-b", "a.b", "a_b",
	"aa", "a", "Ab", "\u00a0", "\u212b", "\u00c5", "\U0001F600", "zz",
}

func testListByteOrder(t *testing.T, b accountvault.Backend) {
	want := slices.Clone(byteOrderIDs)
	slices.Sort(want)
	want = slices.Compact(want)
	for i, id := range want {
		mustUpsert(t, b, account(id, "user-1", "google", fmt.Sprint("sub-", i), "o"))
	}
	sort.Strings(want) // Go compares strings as bytes
	for _, limit := range []int{1, 3, len(want), len(want) + 5} {
		got := listAll(t, b, limit)
		if !slices.Equal(ids(got), want) {
			t.Errorf("List with limit %d: ids\n\t%q\nwant (byte order)\n\t%q", limit, ids(got), want)
		}
	}
	// FindForUser uses the same order.
	got, err := b.FindForUser(t.Context(), "user-1")
	if err != nil || !slices.Equal(ids(got), want) {
		t.Errorf("FindForUser ids\n\t%q, %v\nwant (byte order)\n\t%q", ids(got), err, want)
	}
	// A cursor that is not itself an id.
	rows, err := b.List(t.Context(), "a\x01", 2)
	if err != nil || !slices.Equal(ids(rows), []string{"a b", "a-b"}) {
		t.Errorf("List after %q: %q, %v", "a\x01", ids(rows), err)
	}
}

// listAll pages through the whole table, checking each page's size.
func listAll(t *testing.T, b accountvault.Backend, limit int) []accountvault.SealedRow {
	t.Helper()
	var all []accountvault.SealedRow
	after := ""
	for {
		page, err := b.List(t.Context(), after, limit)
		if err != nil {
			t.Fatalf("List(after %q, %d): %v", after, limit, err)
		}
		if len(page) > limit {
			t.Fatalf("List(…, %d) returned %d rows", limit, len(page))
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
}

func testListPages(t *testing.T, b accountvault.Backend) {
	if rows, err := b.List(t.Context(), "", 100); err != nil || len(rows) != 0 {
		t.Fatalf("List of an empty table: %d rows, %v", len(rows), err)
	}
	prefixes := []string{"a", "B", "é", "Z", "_", "~", "日", "b"}
	want := make([]string, ListRows)
	for i := range want {
		want[i] = fmt.Sprintf("%s%05d", prefixes[i%len(prefixes)], (i*7919)%ListRows)
	}
	start := time.Now()
	insertAll(t, b, want)
	t.Logf("inserted %d rows by Upsert in %v", len(want), time.Since(start).Round(time.Millisecond))

	sort.Strings(want)
	for _, limit := range []int{997, ListRows} {
		start := time.Now()
		got := listAll(t, b, limit)
		t.Logf("listed %d rows in pages of %d in %v", len(got), limit, time.Since(start).Round(time.Millisecond))
		if len(got) != len(want) {
			t.Fatalf("List pages of %d: %d rows, want %d", limit, len(got), len(want))
		}
		for i := range got {
			if got[i].ID != want[i] {
				t.Fatalf("List pages of %d: row %d has id %q, want %q", limit, i, got[i].ID, want[i])
			}
			if string(got[i].AccessToken) != "access-"+want[i] || got[i].UserID != "user-"+want[i][len(want[i])-1:] {
				t.Fatalf("List pages of %d: row %d (%q) does not hold its own values", limit, i, got[i].ID)
			}
		}
	}
	// Past the end, and from the middle.
	if rows, err := b.List(t.Context(), want[len(want)-1], 10); err != nil || len(rows) != 0 {
		t.Errorf("List after the last id: %d rows, %v", len(rows), err)
	}
	mid := len(want) / 2
	rows, err := b.List(t.Context(), want[mid], 3)
	if err != nil || !slices.Equal(ids(rows), want[mid+1:mid+4]) {
		t.Errorf("List after %q: %q, %v; want %q", want[mid], ids(rows), err, want[mid+1:mid+4])
	}
}

// insertAll upserts one small row per id from a few goroutines: a network
// backend spends its time in round trips, and an embedded one serialises
// writers anyway.
func insertAll(t *testing.T, b accountvault.Backend, idList []string) {
	t.Helper()
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(idList); i += workers {
				id := idList[i]
				a := accountvault.SealedRow{
					ID: id, UserID: "user-" + id[len(id)-1:], ProviderID: "p", AccountID: id,
					AccessToken: []byte("access-" + id), CreatedAt: base, UpdatedAt: base,
				}
				if _, err := b.Upsert(t.Context(), a); err != nil {
					errs <- fmt.Errorf("Upsert(%q): %w", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testListUsage(t *testing.T, b accountvault.Backend) {
	mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "one"))
	for _, limit := range []int{0, -1, -1 << 31} {
		if rows, err := b.List(t.Context(), "", limit); !errors.Is(err, accountvault.ErrInvalidArgument) || rows != nil {
			t.Errorf("List with limit %d: %d rows, %v; want no rows and an error wrapping ErrInvalidArgument", limit, len(rows), err)
		}
	}
	for _, after := range []string{"\x00", "a\xff", "acc-1\x00"} {
		if rows, err := b.List(t.Context(), after, 10); !errors.Is(err, accountvault.ErrInvalidArgument) || rows != nil {
			t.Errorf("List after %q: %d rows, %v; want no rows and an error wrapping ErrInvalidArgument", after, len(rows), err)
		}
	}
	if rows, err := b.List(t.Context(), "", 1<<40); err != nil || len(rows) != 1 {
		t.Errorf("List with a huge limit: %d rows, %v", len(rows), err)
	}
}
