package backendtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
)

func batchSwapper(t *testing.T, b accountvault.Backend) accountvault.BatchSwapper {
	t.Helper()
	bs, ok := b.(accountvault.BatchSwapper)
	if !ok {
		t.Skip("the backend has no CompareAndSwapBatch")
	}
	return bs
}

// testSwapBatch checks that each swap of a batch has CompareAndSwap's
// outcome, whatever the others': in one batch, swaps that match their row
// are written (every column CompareAndSwap writes), a row changed since it
// was read, deleted, or re-created under another id is a conflict and
// keeps what it holds, a swap breaking CompareAndSwap's preconditions or
// naming a row an earlier swap names is refused alone, and rows outside the
// batch are untouched.
func testSwapBatch(t *testing.T, b accountvault.Backend) {
	bs := batchSwapper(t, b)
	ctx := t.Context()
	const n = 12
	olds := make([]accountvault.SealedRow, n)
	for i := range olds {
		a := account(fmt.Sprintf("acc-%02d", i), fmt.Sprint("user-", i%3), "google", fmt.Sprint("sub-", i), "v1")
		if i%2 == 0 {
			a.Password = secret("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$djE")
		}
		olds[i] = mustUpsert(t, b, a)
	}
	outside := mustUpsert(t, b, account("acc-out", "user-0", "github", "sub-out", "v1"))

	// What happens to rows 3, 5 and 6 before the batch runs.
	changed := olds[3]
	changed.AccessToken = []byte("concurrent")
	changed = mustUpsert(t, b, changed)
	if err := b.Unlink(ctx, "google", "sub-5"); err != nil {
		t.Fatal(err)
	}
	if err := b.Unlink(ctx, "google", "sub-6"); err != nil {
		t.Fatal(err)
	}
	relinked := mustUpsert(t, b, account("acc-06-new", "user-0", "google", "sub-6", "v1"))

	swaps := make([]accountvault.Swap, 0, n+2)
	for i, o := range olds {
		swaps = append(swaps, accountvault.Swap{Old: o, New: swapped(o, fmt.Sprint("b", i))})
	}
	// Row 7: new changes the id (refused alone: ErrInvalidAccount).
	swaps[7].New.ID = "acc-other"
	// Row 8: emptied tokens, password, expiries and scope, zero UpdatedAt.
	swaps[8].New.AccessToken, swaps[8].New.RefreshToken, swaps[8].New.IDToken = nil, []byte{}, nil
	swaps[8].New.Password, swaps[8].New.Scope = accountvault.Secret{}, ""
	swaps[8].New.AccessTokenExpiresAt, swaps[8].New.RefreshTokenExpiresAt = nil, nil
	swaps[8].New.UpdatedAt = time.Time{}
	// Row 9: an old password no row can hold: a conflict.
	swaps[9].Old.Password = secret("\xff\x00")
	// Row 10 again, later in the batch: refused (ErrInvalidArgument); the
	// first swap of row 10 is written.
	swaps = append(swaps, accountvault.Swap{Old: olds[10], New: swapped(olds[10], "dup")})
	// A row that never existed: a conflict.
	ghost := account("ghost", "user-9", "google", "sub-9", "g")
	swaps = append(swaps, accountvault.Swap{Old: ghost, New: swapped(ghost, "g2")})

	before := time.Now().Truncate(time.Second)
	res, err := bs.CompareAndSwapBatch(ctx, swaps)
	if err != nil {
		t.Fatalf("CompareAndSwapBatch: %v", err)
	}
	if len(res) != len(swaps) {
		t.Fatalf("CompareAndSwapBatch returned %d results for %d swaps", len(res), len(swaps))
	}
	want := func(i int) error {
		switch i {
		case 3, 5, 6, 9, n + 1:
			return accountvault.ErrConflict
		case 7:
			return accountvault.ErrInvalidAccount
		case n:
			return accountvault.ErrInvalidArgument
		}
		return nil
	}
	for i, err := range res {
		w := want(i)
		if (w == nil) != (err == nil) || (w != nil && !errors.Is(err, w)) {
			t.Errorf("swap %d: got %v, want %v", i, err, w)
		}
		if err != nil {
			checkNoValue(t, err, string(swaps[i].New.AccessToken), string(swaps[i].Old.AccessToken), swaps[i].New.Password.Reveal())
		}
	}
	for i, o := range olds {
		switch i {
		case 3:
			checkEqual(t, "row changed before the batch", changed, mustFind(t, b, "google", "sub-3"))
		case 5:
			if _, err := b.FindByProvider(ctx, "google", "sub-5"); !errors.Is(err, accountvault.ErrNotFound) {
				t.Errorf("a deleted row after the batch: %v, want ErrNotFound", err)
			}
		case 6:
			checkEqual(t, "row re-created under another id", relinked, mustFind(t, b, "google", "sub-6"))
		case 7, 9:
			checkEqual(t, fmt.Sprintf("row %d (its swap refused)", i), o, mustFind(t, b, "google", o.AccountID))
		case 8:
			got := mustFind(t, b, "google", "sub-8")
			w := swaps[8].New
			w.UpdatedAt = got.UpdatedAt
			checkEqual(t, "emptied row", w, got)
			checkNilTokens(t, "emptied row", got)
			if got.UpdatedAt.Before(before) || got.UpdatedAt.After(time.Now()) {
				t.Errorf("a zero UpdatedAt was written as %v, want now", got.UpdatedAt)
			}
		default:
			checkEqual(t, fmt.Sprintf("row %d after the batch", i), swaps[i].New, mustFind(t, b, "google", o.AccountID))
		}
	}
	checkEqual(t, "row outside the batch", outside, mustFind(t, b, "github", "sub-out"))

	// The same batch again: every row that was written is a conflict now.
	res, err = bs.CompareAndSwapBatch(ctx, swaps[:n])
	if err != nil {
		t.Fatalf("the batch again: %v", err)
	}
	for i, err := range res {
		if i != 7 && !errors.Is(err, accountvault.ErrConflict) {
			t.Errorf("swap %d run again: got %v, want ErrConflict", i, err)
		}
	}
}

// testSwapBatchEmpty: an empty batch (or one whose every swap is refused
// before any SQL) does nothing and is no error; an oversize batch is
// refused whole.
func testSwapBatchEmpty(t *testing.T, b accountvault.Backend) {
	bs := batchSwapper(t, b)
	old := mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "v1"))
	for _, swaps := range [][]accountvault.Swap{nil, {}} {
		res, err := bs.CompareAndSwapBatch(t.Context(), swaps)
		if err != nil || len(res) != 0 {
			t.Errorf("an empty batch: %d results, %v", len(res), err)
		}
	}
	bad := swapped(old, "v2")
	bad.UserID = "user-2"
	res, err := bs.CompareAndSwapBatch(t.Context(), []accountvault.Swap{{Old: old, New: bad}})
	if err != nil || len(res) != 1 || !errors.Is(res[0], accountvault.ErrInvalidAccount) {
		t.Errorf("a batch of one invalid swap: %v, %v", res, err)
	}
	big := make([]accountvault.Swap, accountvault.MaxSwapBatch+1)
	for i := range big {
		big[i] = accountvault.Swap{Old: old, New: swapped(old, "big")}
	}
	if res, err := bs.CompareAndSwapBatch(t.Context(), big); !errors.Is(err, accountvault.ErrInvalidArgument) || res != nil {
		t.Errorf("a batch of %d swaps: %d results, %v; want ErrInvalidArgument", len(big), len(res), err)
	}
	checkEqual(t, "row after refused batches", old, mustFind(t, b, "google", "sub-1"))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err = bs.CompareAndSwapBatch(ctx, []accountvault.Swap{{Old: old, New: swapped(old, "v3")}})
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Errorf("a batch with a cancelled context: %v, %v; want context.Canceled", res, err)
	}
	checkEqual(t, "row after a cancelled batch", old, mustFind(t, b, "google", "sub-1"))
}

// testSwapBatchRace: a batch races single CompareAndSwaps from the same
// old rows. Each row is won by exactly one side, holds the winner's
// values, and the batch's result for the row says whether it won.
func testSwapBatchRace(t *testing.T, b accountvault.Backend) {
	bs := batchSwapper(t, b)
	const n = 40
	olds := make([]accountvault.SealedRow, n)
	for i := range olds {
		olds[i] = mustUpsert(t, b, account(fmt.Sprintf("acc-%02d", i), "user-1", "google", fmt.Sprint("sub-", i), "v1"))
	}
	swaps := make([]accountvault.Swap, n)
	for i, o := range olds {
		swaps[i] = accountvault.Swap{Old: o, New: swapped(o, "batch")}
	}
	single := make([]error, n)
	var res []error
	var berr error
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-start
		res, berr = bs.CompareAndSwapBatch(t.Context(), swaps)
	}()
	go func() {
		defer wg.Done()
		<-start
		// From the last row back, to meet the batch in the middle.
		for i := n - 1; i >= 0; i-- {
			single[i] = b.CompareAndSwap(t.Context(), olds[i], swapped(olds[i], "single"))
		}
	}()
	close(start)
	wg.Wait()
	if berr != nil {
		t.Fatalf("CompareAndSwapBatch: %v", berr)
	}
	batchWon := 0
	for i, o := range olds {
		got := mustFind(t, b, "google", o.AccountID)
		switch {
		case res[i] == nil && single[i] != nil && errors.Is(single[i], accountvault.ErrConflict):
			batchWon++
			checkEqual(t, fmt.Sprintf("row %d (won by the batch)", i), swaps[i].New, got)
		case single[i] == nil && errors.Is(res[i], accountvault.ErrConflict):
			checkEqual(t, fmt.Sprintf("row %d (won by CompareAndSwap)", i), swapped(o, "single"), got)
		default:
			t.Errorf("row %d: batch %v, CompareAndSwap %v: want exactly one to win", i, res[i], single[i])
		}
	}
	t.Logf("the batch won %d of %d rows", batchWon, n)
}
