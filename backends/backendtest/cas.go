package backendtest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
)

// swapped returns old with new secret columns and a fixed UpdatedAt.
func swapped(old accountvault.Account, tag string) accountvault.Account {
	n := old
	n.AccessToken = accountvault.Secret("access-" + tag)
	n.RefreshToken = accountvault.Secret("refresh-" + tag)
	n.IDToken = accountvault.Secret("idtoken-" + tag)
	n.Password = accountvault.Secret("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + tag)
	n.UpdatedAt = base.Add(time.Hour)
	return n
}

func testCompareAndSwap(t *testing.T, b accountvault.Backend) {
	a := account("acc-1", "user-1", "google", "sub-1", "v1")
	a.Password = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$djE"
	mustUpsert(t, b, a)
	other := mustUpsert(t, b, account("acc-2", "user-1", "github", "sub-2", "other"))
	old := mustFind(t, b, "google", "sub-1")

	n := swapped(old, "v2")
	// Columns CompareAndSwap does not write.
	n.Scope = "changed scope"
	n.AccessTokenExpiresAt = nil
	n.CreatedAt = base.Add(-time.Hour)
	if err := b.CompareAndSwap(t.Context(), old, n); err != nil {
		t.Fatalf("CompareAndSwap: %v", err)
	}
	want := old
	want.AccessToken, want.RefreshToken, want.IDToken, want.Password = n.AccessToken, n.RefreshToken, n.IDToken, n.Password
	want.UpdatedAt = n.UpdatedAt
	checkEqual(t, "row after CompareAndSwap (only tokens, password, updated_at written)", want, mustFind(t, b, "google", "sub-1"))

	// The same swap again: the row no longer matches old.
	n3 := swapped(old, "v3")
	if err := b.CompareAndSwap(t.Context(), old, n3); !errors.Is(err, accountvault.ErrConflict) {
		t.Fatalf("second CompareAndSwap from the same old: got %v, want ErrConflict", err)
	} else {
		checkNoValue(t, err, string(n3.AccessToken), string(old.AccessToken), string(n3.Password))
	}
	checkEqual(t, "row after the conflicting CompareAndSwap", want, mustFind(t, b, "google", "sub-1"))
	checkEqual(t, "other row", other, mustFind(t, b, "github", "sub-2"))

	// From the current row it succeeds; a zero UpdatedAt is now.
	cur := mustFind(t, b, "google", "sub-1")
	n4 := swapped(cur, "v4")
	n4.UpdatedAt = time.Time{}
	before := time.Now().Truncate(time.Second)
	if err := b.CompareAndSwap(t.Context(), cur, n4); err != nil {
		t.Fatalf("CompareAndSwap from the current row: %v", err)
	}
	got := mustFind(t, b, "google", "sub-1")
	if got.AccessToken != n4.AccessToken || got.UpdatedAt.Before(before) || got.UpdatedAt.After(time.Now()) {
		t.Errorf("CompareAndSwap with zero UpdatedAt: updated_at %v, token written: %v", got.UpdatedAt, got.AccessToken == n4.AccessToken)
	}

	// Many swaps racing from the same old: exactly one wins.
	cur = got
	const racers = 8
	var wg sync.WaitGroup
	results := make([]error, racers)
	for i := range racers {
		wg.Go(func() { results[i] = b.CompareAndSwap(t.Context(), cur, swapped(cur, fmt.Sprint("race-", i))) })
	}
	wg.Wait()
	wins := 0
	for i, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, accountvault.ErrConflict):
			t.Errorf("racing CompareAndSwap %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d racing CompareAndSwaps from the same row succeeded, want 1", wins)
	}
	got = mustFind(t, b, "google", "sub-1")
	if !strings.HasPrefix(got.AccessToken.Reveal(), "access-race-") ||
		strings.TrimPrefix(got.AccessToken.Reveal(), "access-") != strings.TrimPrefix(got.IDToken.Reveal(), "idtoken-") {
		t.Errorf("row after the race does not hold exactly one racer's tokens")
	}
}

func testCompareAndSwapChanged(t *testing.T, b accountvault.Backend) {
	changes := []struct {
		name string
		edit func(*accountvault.Account)
	}{
		{"access_token", func(a *accountvault.Account) { a.AccessToken += "x" }},
		{"refresh_token", func(a *accountvault.Account) { a.RefreshToken = "" }},
		{"id_token", func(a *accountvault.Account) { a.IDToken = "other" }},
		{"password", func(a *accountvault.Account) { a.Password = "$2a$10$changed" }},
		{"password cleared", func(a *accountvault.Account) { a.Password = "" }},
		{"user_id", func(a *accountvault.Account) { a.UserID = "user-2" }},
	}
	for i, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			subject := fmt.Sprint("sub-", i)
			a := account(fmt.Sprint("acc-", i), "user-1", "google", subject, "v1")
			a.Password = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$djE"
			old := mustUpsert(t, b, a)
			// A concurrent writer changes one column.
			changed := old
			c.edit(&changed)
			changed = mustUpsert(t, b, changed)

			err := b.CompareAndSwap(t.Context(), old, swapped(old, "v2"))
			if !errors.Is(err, accountvault.ErrConflict) {
				t.Fatalf("CompareAndSwap after %s changed: got %v, want ErrConflict", c.name, err)
			}
			checkEqual(t, "row after the refused CompareAndSwap", changed, mustFind(t, b, "google", subject))
		})
	}
	// Columns that CompareAndSwap does not compare do not make it fail.
	t.Run("scope and expiry", func(t *testing.T) {
		old := mustUpsert(t, b, account("acc-s", "user-1", "google", "sub-s", "v1"))
		changed := old
		changed.Scope = "other"
		changed.RefreshTokenExpiresAt = nil
		mustUpsert(t, b, changed)
		n := swapped(old, "v2")
		if err := b.CompareAndSwap(t.Context(), old, n); err != nil {
			t.Fatalf("CompareAndSwap after only scope and expiry changed: %v", err)
		}
		want := changed
		want.AccessToken, want.RefreshToken, want.IDToken, want.Password, want.UpdatedAt = n.AccessToken, n.RefreshToken, n.IDToken, n.Password, n.UpdatedAt
		checkEqual(t, "row after CompareAndSwap", want, mustFind(t, b, "google", "sub-s"))
	})
}

func testCompareAndSwapGone(t *testing.T, b accountvault.Backend) {
	old := mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "v1"))
	if err := b.Unlink(t.Context(), "google", "sub-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.CompareAndSwap(t.Context(), old, swapped(old, "v2")); !errors.Is(err, accountvault.ErrConflict) {
		t.Fatalf("CompareAndSwap on a deleted row: got %v, want ErrConflict", err)
	}
	if _, err := b.FindByProvider(t.Context(), "google", "sub-1"); !errors.Is(err, accountvault.ErrNotFound) {
		t.Errorf("CompareAndSwap on a deleted row wrote one: %v", err)
	}
	// Re-linked under another id: old.ID is gone even though the pair exists.
	relinked := account("acc-2", "user-1", "google", "sub-1", "v1")
	mustUpsert(t, b, relinked)
	if err := b.CompareAndSwap(t.Context(), old, swapped(old, "v3")); !errors.Is(err, accountvault.ErrConflict) {
		t.Fatalf("CompareAndSwap on a row re-created under another id: got %v, want ErrConflict", err)
	}
	checkEqual(t, "re-created row", relinked, mustFind(t, b, "google", "sub-1"))
	// An old whose password no row can hold.
	cur := mustFind(t, b, "google", "sub-1")
	bad := cur
	bad.Password = "\xff\x00"
	if err := b.CompareAndSwap(t.Context(), bad, swapped(cur, "v4")); !errors.Is(err, accountvault.ErrConflict) {
		t.Errorf("CompareAndSwap from an unstorable old password: got %v, want ErrConflict", err)
	}
	checkEqual(t, "row after the refused CompareAndSwap", relinked, mustFind(t, b, "google", "sub-1"))
	// Never existed.
	ghost := account("ghost", "user-9", "google", "sub-9", "g")
	if err := b.CompareAndSwap(t.Context(), ghost, swapped(ghost, "g2")); !errors.Is(err, accountvault.ErrConflict) {
		t.Errorf("CompareAndSwap on a row that never existed: got %v, want ErrConflict", err)
	}
}

func testCompareAndSwapEmpty(t *testing.T, b accountvault.Backend) {
	// Empty tokens and password are stored as NULL: an old read back with
	// "" must still match, and new may empty them again.
	a := accountvault.Account{ID: "acc-1", UserID: "user-1", ProviderID: "google", AccountID: "sub-1", CreatedAt: base, UpdatedAt: base}
	old := mustUpsert(t, b, a)
	n := swapped(old, "v2")
	if err := b.CompareAndSwap(t.Context(), old, n); err != nil {
		t.Fatalf("CompareAndSwap from empty columns: %v", err)
	}
	cur := mustFind(t, b, "google", "sub-1")
	checkEqual(t, "row after filling", n, cur)
	back := cur
	back.AccessToken, back.RefreshToken, back.IDToken, back.Password = "", "", "", ""
	back.UpdatedAt = base.Add(2 * time.Hour)
	if err := b.CompareAndSwap(t.Context(), cur, back); err != nil {
		t.Fatalf("CompareAndSwap to empty columns: %v", err)
	}
	checkEqual(t, "row after emptying", back, mustFind(t, b, "google", "sub-1"))
	if err := b.CompareAndSwap(t.Context(), cur, back); !errors.Is(err, accountvault.ErrConflict) {
		t.Errorf("stale CompareAndSwap against emptied columns: got %v, want ErrConflict", err)
	}
}

func testCompareAndSwapInvalid(t *testing.T, b accountvault.Backend) {
	old := mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "v1"))
	edits := []struct {
		name, field string
		edit        func(*accountvault.Account)
	}{
		{"other ID", "ID", func(a *accountvault.Account) { a.ID = "acc-2" }},
		{"other UserID", "UserID", func(a *accountvault.Account) { a.UserID = "user-2" }},
		{"other ProviderID", "ProviderID", func(a *accountvault.Account) { a.ProviderID = "github" }},
		{"other AccountID", "AccountID", func(a *accountvault.Account) { a.AccountID = "sub-2" }},
		{"oversize token", "RefreshToken", func(a *accountvault.Account) {
			a.RefreshToken = accountvault.Secret(strings.Repeat("T", accountvault.MaxTokenSize+1))
		}},
		{"NUL in password", "Password", func(a *accountvault.Account) { a.Password = "$argon2id$\x00" }},
		{"oversize password", "Password", func(a *accountvault.Account) {
			a.Password = accountvault.Secret(strings.Repeat("P", accountvault.MaxPasswordSize+1))
		}},
	}
	for _, e := range edits {
		n := swapped(old, "v2")
		e.edit(&n)
		err := b.CompareAndSwap(t.Context(), old, n)
		var ie *accountvault.InvalidAccountError
		if !errors.Is(err, accountvault.ErrInvalidAccount) || !errors.As(err, &ie) || ie.Field != e.field {
			t.Errorf("CompareAndSwap with %s: got %v, want ErrInvalidAccount naming %s", e.name, err, e.field)
		}
		checkNoValue(t, err, string(n.AccessToken), string(n.RefreshToken), string(n.Password))
	}
	checkEqual(t, "row after refused CompareAndSwaps", old, mustFind(t, b, "google", "sub-1"))
}

func testConcurrentUpsert(t *testing.T, b accountvault.Backend) {
	const writers = 16
	start := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]accountvault.Account, writers)
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			a := account(fmt.Sprint("acc-", i), "user-1", "google", "sub-1", fmt.Sprint("w", i))
			a.CreatedAt = base.Add(time.Duration(i) * time.Second)
			<-start
			results[i], errs[i] = b.Upsert(t.Context(), a)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if t.Failed() {
		return
	}
	rows, err := b.List(t.Context(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d concurrent upserts of one (provider, account) left %d rows (%q), want 1", writers, len(rows), ids(rows))
	}
	row := rows[0]
	// Every writer got back the row id and creation time of the first insert.
	for i, r := range results {
		if r.ID != row.ID || !r.CreatedAt.Equal(row.CreatedAt) {
			t.Errorf("writer %d got id %q created %v; the row has id %q created %v", i, r.ID, r.CreatedAt, row.ID, row.CreatedAt)
		}
	}
	var first int
	if _, err := fmt.Sscanf(row.ID, "acc-%d", &first); err != nil || !row.CreatedAt.Equal(base.Add(time.Duration(first)*time.Second)) {
		t.Errorf("row id %q and created_at %v come from different writers", row.ID, row.CreatedAt)
	}
	// The columns of the row all come from one writer (the last).
	tag := strings.TrimPrefix(row.AccessToken.Reveal(), "access-")
	if row.RefreshToken.Reveal() != "refresh-"+tag || row.IDToken.Reveal() != "idtoken-"+tag || row.Scope != "openid email "+tag {
		t.Errorf("row columns come from different writers")
	}
}
