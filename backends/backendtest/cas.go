package backendtest

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
)

// swapped returns old as a token refresh would write it: new secret
// columns, expiries and scope derived from tag, and a fixed UpdatedAt.
func swapped(old accountvault.SealedRow, tag string) accountvault.SealedRow {
	n := old
	n.AccessToken = []byte("access-" + tag)
	n.RefreshToken = []byte("refresh-" + tag)
	n.IDToken = []byte("idtoken-" + tag)
	n.Password = secret("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + tag)
	h := fnv.New32a()
	h.Write([]byte(tag))
	off := int(h.Sum32() % 1_000_000)
	n.AccessTokenExpiresAt = at(7200 + off)
	n.RefreshTokenExpiresAt = at(2_000_000 + off)
	n.Scope = "openid refreshed " + tag
	n.UpdatedAt = base.Add(time.Hour)
	return n
}

func testCompareAndSwap(t *testing.T, b accountvault.Backend) {
	a := account("acc-1", "user-1", "google", "sub-1", "v1")
	a.Password = secret("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$djE")
	mustUpsert(t, b, a)
	other := mustUpsert(t, b, account("acc-2", "user-1", "github", "sub-2", "other"))
	old := mustFind(t, b, "google", "sub-1")

	n := swapped(old, "v2")
	// The one column besides the keys that CompareAndSwap does not write.
	n.CreatedAt = base.Add(-time.Hour)
	if err := b.CompareAndSwap(t.Context(), old, n); err != nil {
		t.Fatalf("CompareAndSwap: %v", err)
	}
	want := n
	want.CreatedAt = old.CreatedAt
	checkEqual(t, "row after CompareAndSwap (tokens, password, expiries, scope, updated_at written; created_at kept)", want, mustFind(t, b, "google", "sub-1"))

	// The same swap again: the row no longer matches old. The losing swap
	// writes nothing, neither its tokens nor its expiries and scope.
	n3 := swapped(old, "v3")
	if err := b.CompareAndSwap(t.Context(), old, n3); !errors.Is(err, accountvault.ErrConflict) {
		t.Fatalf("second CompareAndSwap from the same old: got %v, want ErrConflict", err)
	} else {
		checkNoValue(t, err, string(n3.AccessToken), string(old.AccessToken), n3.Password.Reveal())
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
	if !bytes.Equal(got.AccessToken, n4.AccessToken) || got.UpdatedAt.Before(before) || got.UpdatedAt.After(time.Now()) {
		t.Errorf("CompareAndSwap with zero UpdatedAt: updated_at %v, token written: %v", got.UpdatedAt, bytes.Equal(got.AccessToken, n4.AccessToken))
	}

	// Many swaps racing from the same old: exactly one wins, and the row
	// holds every column of that one swap.
	cur = got
	const racers = 8
	var wg sync.WaitGroup
	results := make([]error, racers)
	for i := range racers {
		wg.Go(func() { results[i] = b.CompareAndSwap(t.Context(), cur, swapped(cur, fmt.Sprint("race-", i))) })
	}
	wg.Wait()
	wins, winner := 0, -1
	for i, err := range results {
		switch {
		case err == nil:
			wins++
			winner = i
		case !errors.Is(err, accountvault.ErrConflict):
			t.Errorf("racing CompareAndSwap %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d racing CompareAndSwaps from the same row succeeded, want 1", wins)
	}
	got = mustFind(t, b, "google", "sub-1")
	if !strings.HasPrefix(string(got.AccessToken), "access-race-") ||
		strings.TrimPrefix(string(got.AccessToken), "access-") != strings.TrimPrefix(string(got.IDToken), "idtoken-") {
		t.Errorf("row after the race does not hold exactly one racer's tokens")
	}
	if winner >= 0 {
		checkEqual(t, "row after the race (every column of the winning swap)", swapped(cur, fmt.Sprint("race-", winner)), got)
	}
}

// testCompareAndSwapRefresh checks the columns a token refresh changes
// besides the tokens: both expiries and the scope are written with them,
// set, changed and cleared, and a swap that loses writes none of them.
func testCompareAndSwapRefresh(t *testing.T, b accountvault.Backend) {
	old := mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "v1"))
	other := mustUpsert(t, b, account("acc-2", "user-1", "github", "sub-2", "v1"))
	steps := []struct {
		name            string
		access, refresh *time.Time
		scope           string
	}{
		{"changed", at(7200), at(172800), "openid email profile"},
		{"cleared", nil, nil, ""},
		{"set from NULL", at(60), ptr(time.Unix(-86400, 0)), "repo"},
		{"access only", at(90), nil, "repo"},
		{"refresh only", nil, at(120), "read:user"},
	}
	cur := old
	for i, s := range steps {
		n := swapped(cur, fmt.Sprint("r", i))
		n.AccessTokenExpiresAt, n.RefreshTokenExpiresAt, n.Scope = s.access, s.refresh, s.scope
		if err := b.CompareAndSwap(t.Context(), cur, n); err != nil {
			t.Fatalf("%s: CompareAndSwap: %v", s.name, err)
		}
		got := mustFind(t, b, "google", "sub-1")
		checkEqual(t, s.name+": row after CompareAndSwap", n, got)

		// A swap from the row before this one loses, and leaves the
		// expiries and scope as the winner wrote them.
		stale := swapped(cur, fmt.Sprint("stale", i))
		stale.AccessTokenExpiresAt, stale.RefreshTokenExpiresAt, stale.Scope = at(999), at(9999), "stale scope"
		if err := b.CompareAndSwap(t.Context(), cur, stale); !errors.Is(err, accountvault.ErrConflict) {
			t.Fatalf("%s: stale CompareAndSwap: got %v, want ErrConflict", s.name, err)
		}
		checkEqual(t, s.name+": row after a stale CompareAndSwap", n, mustFind(t, b, "google", "sub-1"))
		cur = got
	}
	// FindForUser and List read the same columns.
	rows, err := b.FindForUser(t.Context(), "user-1")
	if err != nil || len(rows) != 2 {
		t.Fatalf("FindForUser: %d rows, %v", len(rows), err)
	}
	checkEqual(t, "FindForUser row after the swaps", cur, rows[0])
	checkEqual(t, "other row after the swaps", other, rows[1])
	rows, err = b.List(t.Context(), "", 1)
	if err != nil || len(rows) != 1 {
		t.Fatalf("List: %d rows, %v", len(rows), err)
	}
	checkEqual(t, "List row after the swaps", cur, rows[0])

	// A row that is gone is not written, whatever new holds.
	if err := b.Unlink(t.Context(), "google", "sub-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.CompareAndSwap(t.Context(), cur, swapped(cur, "gone")); !errors.Is(err, accountvault.ErrConflict) {
		t.Errorf("CompareAndSwap on a deleted row: got %v, want ErrConflict", err)
	}
	checkEqual(t, "other row after a CompareAndSwap on a deleted row", other, mustFind(t, b, "github", "sub-2"))
}

func testCompareAndSwapChanged(t *testing.T, b accountvault.Backend) {
	changes := []struct {
		name string
		edit func(*accountvault.SealedRow)
	}{
		{"access_token", func(a *accountvault.SealedRow) { a.AccessToken = append(bytes.Clone(a.AccessToken), 'x') }},
		{"access_token, one byte", func(a *accountvault.SealedRow) {
			a.AccessToken = bytes.Clone(a.AccessToken)
			a.AccessToken[0] ^= 1
		}},
		{"refresh_token", func(a *accountvault.SealedRow) { a.RefreshToken = nil }},
		{"id_token", func(a *accountvault.SealedRow) { a.IDToken = []byte("other") }},
		{"password", func(a *accountvault.SealedRow) { a.Password = secret("$2a$10$changed") }},
		{"password cleared", func(a *accountvault.SealedRow) { a.Password = accountvault.Secret{} }},
		{"user_id", func(a *accountvault.SealedRow) { a.UserID = "user-2" }},
	}
	for i, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			subject := fmt.Sprint("sub-", i)
			a := account(fmt.Sprint("acc-", i), "user-1", "google", subject, "v1")
			a.Password = secret("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$djE")
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
	// Columns that CompareAndSwap writes but does not compare do not make
	// it fail: it overwrites them with new's.
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
		checkEqual(t, "row after CompareAndSwap", n, mustFind(t, b, "google", "sub-s"))
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
	bad.Password = secret("\xff\x00")
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
	a := accountvault.SealedRow{ID: "acc-1", UserID: "user-1", ProviderID: "google", AccountID: "sub-1", CreatedAt: base, UpdatedAt: base}
	old := mustUpsert(t, b, a)
	n := swapped(old, "v2")
	if err := b.CompareAndSwap(t.Context(), old, n); err != nil {
		t.Fatalf("CompareAndSwap from empty columns: %v", err)
	}
	cur := mustFind(t, b, "google", "sub-1")
	checkEqual(t, "row after filling", n, cur)
	back := cur
	// Empty and nil tokens are alike.
	back.AccessToken, back.RefreshToken, back.IDToken, back.Password = nil, []byte{}, nil, accountvault.Secret{}
	back.UpdatedAt = base.Add(2 * time.Hour)
	if err := b.CompareAndSwap(t.Context(), cur, back); err != nil {
		t.Fatalf("CompareAndSwap to empty columns: %v", err)
	}
	emptied := mustFind(t, b, "google", "sub-1")
	checkEqual(t, "row after emptying", back, emptied)
	checkNilTokens(t, "row after emptying", emptied)
	if err := b.CompareAndSwap(t.Context(), cur, back); !errors.Is(err, accountvault.ErrConflict) {
		t.Errorf("stale CompareAndSwap against emptied columns: got %v, want ErrConflict", err)
	}
}

func testCompareAndSwapInvalid(t *testing.T, b accountvault.Backend) {
	old := mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "v1"))
	edits := []struct {
		name, field string
		edit        func(*accountvault.SealedRow)
	}{
		{"other ID", "ID", func(a *accountvault.SealedRow) { a.ID = "acc-2" }},
		{"other UserID", "UserID", func(a *accountvault.SealedRow) { a.UserID = "user-2" }},
		{"other ProviderID", "ProviderID", func(a *accountvault.SealedRow) { a.ProviderID = "github" }},
		{"other AccountID", "AccountID", func(a *accountvault.SealedRow) { a.AccountID = "sub-2" }},
		{"oversize token", "RefreshToken", func(a *accountvault.SealedRow) {
			a.RefreshToken = bytes.Repeat([]byte("T"), accountvault.MaxTokenSize+1)
		}},
		{"NUL in password", "Password", func(a *accountvault.SealedRow) { a.Password = secret("$argon2id$\x00") }},
		{"oversize password", "Password", func(a *accountvault.SealedRow) {
			a.Password = secret(strings.Repeat("P", accountvault.MaxPasswordSize+1))
		}},
		{"NUL in scope", "Scope", func(a *accountvault.SealedRow) { a.Scope = "openid\x00" }},
		{"invalid UTF-8 scope", "Scope", func(a *accountvault.SealedRow) { a.Scope = "openid \xff" }},
		{"oversize scope", "Scope", func(a *accountvault.SealedRow) {
			a.Scope = strings.Repeat("s", accountvault.MaxScopeSize+1)
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
		checkNoValue(t, err, string(n.AccessToken), string(n.RefreshToken), n.Password.Reveal())
	}
	checkEqual(t, "row after refused CompareAndSwaps", old, mustFind(t, b, "google", "sub-1"))
}

func testConcurrentUpsert(t *testing.T, b accountvault.Backend) {
	const writers = 16
	start := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]accountvault.SealedRow, writers)
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
	tag := strings.TrimPrefix(string(row.AccessToken), "access-")
	if string(row.RefreshToken) != "refresh-"+tag || string(row.IDToken) != "idtoken-"+tag || row.Scope != "openid email "+tag {
		t.Errorf("row columns come from different writers")
	}
}
