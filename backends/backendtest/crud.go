package backendtest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
)

func testUpsertThenFind(t *testing.T, b accountvault.Backend) {
	a := account("acc-1", "user-1", "google", "sub-1", "one")
	got := mustUpsert(t, b, a)
	checkEqual(t, "Upsert result", a, got)
	checkEqual(t, "FindByProvider result", a, mustFind(t, b, "google", "sub-1"))

	// The key is the pair: same account id at another provider is another row.
	a2 := account("acc-2", "user-1", "github", "sub-1", "two")
	mustUpsert(t, b, a2)
	checkEqual(t, "first row after a second insert", a, mustFind(t, b, "google", "sub-1"))
	checkEqual(t, "second row", a2, mustFind(t, b, "github", "sub-1"))
}

func testTimestamps(t *testing.T, b accountvault.Backend) {
	// Zero CreatedAt and UpdatedAt become now, in whole seconds.
	a := account("acc-1", "user-1", "google", "sub-1", "one")
	a.CreatedAt, a.UpdatedAt = time.Time{}, time.Time{}
	before := time.Now().Truncate(time.Second)
	got := mustUpsert(t, b, a)
	after := time.Now()
	for _, f := range []struct {
		name string
		v    time.Time
	}{{"CreatedAt", got.CreatedAt}, {"UpdatedAt", got.UpdatedAt}} {
		if f.v.Before(before) || f.v.After(after) || f.v.Nanosecond() != 0 || f.v.Location() != time.UTC {
			t.Errorf("zero %s stored as %v, want a whole UTC second in [%v, %v]", f.name, f.v, before, after)
		}
	}
	found := mustFind(t, b, "google", "sub-1")
	if !found.CreatedAt.Equal(got.CreatedAt) || !found.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("FindByProvider times %v/%v differ from Upsert's %v/%v", found.CreatedAt, found.UpdatedAt, got.CreatedAt, got.UpdatedAt)
	}

	// Explicit times in another zone with sub-second parts come back as
	// the same second in UTC, including times before 1970.
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	c := account("acc-2", "user-1", "github", "sub-2", "two")
	c.CreatedAt = time.Date(1969, 7, 20, 20, 17, 40, 999_999_999, zone)
	c.UpdatedAt = time.Date(2038, 1, 19, 3, 14, 8, 1, zone)
	exp := time.Date(2100, 1, 1, 0, 0, 0, 500, zone)
	c.AccessTokenExpiresAt = &exp
	checkEqual(t, "Upsert result with zoned times", c, mustUpsert(t, b, c))
	checkEqual(t, "FindByProvider result with zoned times", c, mustFind(t, b, "github", "sub-2"))
}

func testFindMissing(t *testing.T, b accountvault.Backend) {
	_, err := b.FindByProvider(t.Context(), "google", "nobody")
	if !errors.Is(err, accountvault.ErrNotFound) {
		t.Fatalf("FindByProvider on an empty table: got %v, want ErrNotFound", err)
	}
	mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "one"))
	for _, k := range [][2]string{{"google", "sub-2"}, {"github", "sub-1"}, {"Google", "sub-1"}, {"google", "SUB-1"}, {"", ""}} {
		if _, err := b.FindByProvider(t.Context(), k[0], k[1]); !errors.Is(err, accountvault.ErrNotFound) {
			t.Errorf("FindByProvider(%q, %q): got %v, want ErrNotFound", k[0], k[1], err)
		}
	}
}

func testFindForUser(t *testing.T, b accountvault.Backend) {
	got, err := b.FindForUser(t.Context(), "nobody")
	if err != nil || len(got) != 0 {
		t.Fatalf("FindForUser(unknown) = %d rows, %v; want 0 rows, nil", len(got), err)
	}
	// Inserted out of id order, across providers, with another user's rows
	// in between.
	rows := []accountvault.SealedRow{
		account("u1-c", "user-1", "google", "g-1", "a"),
		account("u2-a", "user-2", "google", "g-2", "b"),
		account("u1-a", "user-1", "github", "gh-1", "c"),
		account("u1-b", "user-1", accountvault.ProviderCredential, "user-1", "d"),
		account("u2-b", "user-2", "github", "gh-2", "e"),
	}
	for _, a := range rows {
		mustUpsert(t, b, a)
	}
	got, err = b.FindForUser(t.Context(), "user-1")
	if err != nil {
		t.Fatalf("FindForUser: %v", err)
	}
	if want := []string{"u1-a", "u1-b", "u1-c"}; !slices.Equal(ids(got), want) {
		t.Fatalf("FindForUser(user-1) ids = %q, want %q", ids(got), want)
	}
	byID := map[string]accountvault.SealedRow{}
	for _, a := range rows {
		byID[a.ID] = a
	}
	for _, g := range got {
		checkEqual(t, "FindForUser row "+g.ID, byID[g.ID], g)
	}
	if got, err := b.FindForUser(t.Context(), "user-2"); err != nil || !slices.Equal(ids(got), []string{"u2-a", "u2-b"}) {
		t.Errorf("FindForUser(user-2) = %q, %v", ids(got), err)
	}
	if got, err := b.FindForUser(t.Context(), "User-1"); err != nil || len(got) != 0 {
		t.Errorf("FindForUser is not case-sensitive: %q, %v", ids(got), err)
	}
}

func testUpsertKeeps(t *testing.T, b accountvault.Backend) {
	first := account("acc-1", "user-1", "google", "sub-1", "old")
	mustUpsert(t, b, first)

	// Re-link: another id and CreatedAt are offered, every other column
	// changes, expiries and scope are cleared.
	second := account("acc-other", "user-2", "google", "sub-1", "new")
	second.CreatedAt = base.Add(24 * time.Hour)
	second.UpdatedAt = base.Add(48 * time.Hour)
	second.AccessTokenExpiresAt = nil
	second.RefreshTokenExpiresAt = nil
	second.Scope = ""
	second.Password = secret("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")
	got := mustUpsert(t, b, second)

	want := second
	want.ID, want.CreatedAt = first.ID, first.CreatedAt
	checkEqual(t, "Upsert result on conflict", want, got)
	checkEqual(t, "FindByProvider after re-link", want, mustFind(t, b, "google", "sub-1"))

	// One row, now the other user's.
	if rows, err := b.FindForUser(t.Context(), "user-1"); err != nil || len(rows) != 0 {
		t.Errorf("FindForUser(old user) = %q, %v; want none", ids(rows), err)
	}
	if rows, err := b.FindForUser(t.Context(), "user-2"); err != nil || !slices.Equal(ids(rows), []string{"acc-1"}) {
		t.Errorf("FindForUser(new user) = %q, %v; want [acc-1]", ids(rows), err)
	}
	if rows, err := b.List(t.Context(), "", 10); err != nil || len(rows) != 1 {
		t.Errorf("List = %q, %v; want one row", ids(rows), err)
	}

	// A zero UpdatedAt on re-link is now; CreatedAt stays.
	third := first
	third.UpdatedAt = time.Time{}
	before := time.Now().Truncate(time.Second)
	got = mustUpsert(t, b, third)
	if got.UpdatedAt.Before(before) || !got.CreatedAt.Equal(first.CreatedAt) || got.ID != first.ID {
		t.Errorf("re-link with zero UpdatedAt: got id %q created %v updated %v", got.ID, got.CreatedAt, got.UpdatedAt)
	}
}

func testUpsertDuplicateID(t *testing.T, b accountvault.Backend) {
	a := account("acc-1", "user-1", "google", "sub-1", "one")
	mustUpsert(t, b, a)
	// Same id, another (provider, account): the id is taken.
	dup := account("acc-1", "user-2", "github", "sub-2", "two")
	if _, err := b.Upsert(t.Context(), dup); err == nil {
		t.Fatal("Upsert of a new (provider, account) under an existing id succeeded")
	} else {
		checkNoValue(t, err, string(dup.AccessToken), string(dup.RefreshToken), string(dup.IDToken))
	}
	checkEqual(t, "row after the refused upsert", a, mustFind(t, b, "google", "sub-1"))
	if _, err := b.FindByProvider(t.Context(), "github", "sub-2"); !errors.Is(err, accountvault.ErrNotFound) {
		t.Errorf("refused upsert left a row: %v", err)
	}
}

func testUnlink(t *testing.T, b accountvault.Backend) {
	if err := b.Unlink(t.Context(), "google", "sub-1"); !errors.Is(err, accountvault.ErrNotFound) {
		t.Fatalf("Unlink on an empty table: got %v, want ErrNotFound", err)
	}
	mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "one"))
	other := account("acc-2", "user-1", "github", "sub-1", "two")
	mustUpsert(t, b, other)
	if err := b.Unlink(t.Context(), "google", "sub-1"); err != nil {
		t.Fatalf("Unlink: %v", err)
	}
	if _, err := b.FindByProvider(t.Context(), "google", "sub-1"); !errors.Is(err, accountvault.ErrNotFound) {
		t.Errorf("FindByProvider after Unlink: got %v, want ErrNotFound", err)
	}
	if err := b.Unlink(t.Context(), "google", "sub-1"); !errors.Is(err, accountvault.ErrNotFound) {
		t.Errorf("second Unlink: got %v, want ErrNotFound", err)
	}
	checkEqual(t, "the other row after Unlink", other, mustFind(t, b, "github", "sub-1"))
	// The id is free again.
	again := account("acc-1", "user-3", "google", "sub-9", "three")
	checkEqual(t, "re-insert under the unlinked id", again, mustUpsert(t, b, again))
}

// testDeleteUser checks the erasure of a user: every row of that user id,
// and only those, goes in one call that counts them.
func testDeleteUser(t *testing.T, b accountvault.Backend) {
	if n, err := b.DeleteUser(t.Context(), "user-1"); err != nil || n != 0 {
		t.Fatalf("DeleteUser on an empty table: %d, %v; want 0, nil", n, err)
	}
	victims := []accountvault.SealedRow{
		account("u1-c", "user-1", "google", "g-1", "a"),
		account("u1-a", "user-1", "github", "gh-1", "b"),
		account("u1-b", "user-1", accountvault.ProviderCredential, "user-1", "c"),
	}
	victims[2].Password = secret("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")
	// Rows that stay: another user, user ids that extend the victim's,
	// differ in case or in a trailing space, and a row whose AccountID
	// (not UserID) is the victim's id.
	kept := []accountvault.SealedRow{
		account("u2-a", "user-2", "google", "g-2", "d"),
		account("u10-a", "user-10", "google", "g-10", "e"),
		account("U1-a", "User-1", "google", "g-U1", "f"),
		account("u1-x", "user-1 ", "github", "gh-x", "g"),
		account("u3-a", "user-3", "github", "user-1", "h"),
	}
	for i := range max(len(victims), len(kept)) {
		if i < len(kept) {
			mustUpsert(t, b, kept[i])
		}
		if i < len(victims) {
			mustUpsert(t, b, victims[i])
		}
	}
	checkKept := func(what string) {
		t.Helper()
		for _, k := range kept {
			checkEqual(t, what+": row "+k.ID, k, mustFind(t, b, k.ProviderID, k.AccountID))
		}
		want := ids(kept)
		slices.Sort(want)
		if rows, err := b.List(t.Context(), "", 100); err != nil || !slices.Equal(ids(rows), want) {
			t.Errorf("%s: List = %q, %v; want %q", what, ids(rows), err, want)
		}
	}

	n, err := b.DeleteUser(t.Context(), "user-1")
	if err != nil || n != len(victims) {
		t.Fatalf("DeleteUser(user-1) = %d, %v; want %d, nil", n, err, len(victims))
	}
	if rows, err := b.FindForUser(t.Context(), "user-1"); err != nil || len(rows) != 0 {
		t.Errorf("FindForUser after DeleteUser: %q, %v; want none", ids(rows), err)
	}
	for _, v := range victims {
		if _, err := b.FindByProvider(t.Context(), v.ProviderID, v.AccountID); !errors.Is(err, accountvault.ErrNotFound) {
			t.Errorf("FindByProvider(%q, %q) after DeleteUser: got %v, want ErrNotFound", v.ProviderID, v.AccountID, err)
		}
	}
	checkKept("after DeleteUser")

	// Again, and for users without rows: none is not an error.
	for _, u := range []string{"user-1", "nobody", "USER-2", "user-", "\xff", "user-2\x00"} {
		if n, err := b.DeleteUser(t.Context(), u); err != nil || n != 0 {
			t.Errorf("DeleteUser(%q) = %d, %v; want 0, nil", u, n, err)
		}
	}
	// An empty user id is a usage error, and deletes nothing.
	if n, err := b.DeleteUser(t.Context(), ""); !errors.Is(err, accountvault.ErrInvalidArgument) || n != 0 {
		t.Errorf(`DeleteUser("") = %d, %v; want 0 and an error wrapping ErrInvalidArgument`, n, err)
	}
	checkKept("after DeleteUsers that match nothing")

	// The deleted rows' ids and pairs are free again.
	for _, v := range victims {
		checkEqual(t, "re-insert of a deleted row", v, mustUpsert(t, b, v))
	}
	if n, err := b.DeleteUser(t.Context(), "user-1"); err != nil || n != len(victims) {
		t.Errorf("second DeleteUser(user-1) = %d, %v; want %d, nil", n, err, len(victims))
	}
	checkKept("after the second DeleteUser")
}

// testNoAliasing checks that a backend keeps no reference to the token
// slices it is handed, and hands out none to what it stores: a caller may
// reuse or overwrite its buffers after any call.
func testNoAliasing(t *testing.T, b accountvault.Backend) {
	scribble := func(r accountvault.SealedRow) {
		for _, s := range [][]byte{r.AccessToken, r.RefreshToken, r.IDToken} {
			for i := range s {
				s[i] = 'X'
			}
		}
	}
	deep := func(r accountvault.SealedRow) accountvault.SealedRow {
		r.AccessToken, r.RefreshToken, r.IDToken = bytes.Clone(r.AccessToken), bytes.Clone(r.RefreshToken), bytes.Clone(r.IDToken)
		return r
	}
	a := account("acc-1", "user-1", "google", "sub-1", "one")
	want := deep(a)
	got := mustUpsert(t, b, a)
	scribble(a)
	scribble(got)
	checkEqual(t, "row after the caller overwrote the slices given to and returned by Upsert", want, mustFind(t, b, "google", "sub-1"))

	scribble(mustFind(t, b, "google", "sub-1"))
	rows, err := b.FindForUser(t.Context(), "user-1")
	if err != nil || len(rows) != 1 {
		t.Fatalf("FindForUser: %d rows, %v", len(rows), err)
	}
	scribble(rows[0])
	rows, err = b.List(t.Context(), "", 10)
	if err != nil || len(rows) != 1 {
		t.Fatalf("List: %d rows, %v", len(rows), err)
	}
	scribble(rows[0])
	checkEqual(t, "row after the caller overwrote the slices read", want, mustFind(t, b, "google", "sub-1"))

	old := mustFind(t, b, "google", "sub-1")
	n := swapped(old, "two")
	wantN := deep(n)
	if err := b.CompareAndSwap(t.Context(), old, n); err != nil {
		t.Fatalf("CompareAndSwap: %v", err)
	}
	scribble(old)
	scribble(n)
	checkEqual(t, "row after the caller overwrote the slices given to CompareAndSwap", wantN, mustFind(t, b, "google", "sub-1"))
}

func testPassword(t *testing.T, b accountvault.Backend) {
	hashes := []string{
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"0123456789abcdef:" + strings.Repeat("ab", 64), // better-auth scrypt salt:key
	}
	for i, h := range hashes {
		a := account(fmt.Sprint("cred-", i), fmt.Sprint("user-", i), accountvault.ProviderCredential, fmt.Sprint("user-", i), "p")
		a.AccessToken, a.RefreshToken, a.IDToken = nil, nil, nil
		a.AccessTokenExpiresAt, a.RefreshTokenExpiresAt = nil, nil
		a.Scope = ""
		a.Password = secret(h)
		checkEqual(t, fmt.Sprint("Upsert result, hash ", i), a, mustUpsert(t, b, a))
		checkEqual(t, fmt.Sprint("FindByProvider result, hash ", i), a, mustFind(t, b, accountvault.ProviderCredential, a.AccountID))
	}
	// Changing, then clearing, the password.
	a := mustFind(t, b, accountvault.ProviderCredential, "user-0")
	a.Password = secret(hashes[1])
	checkEqual(t, "password changed", a, mustUpsert(t, b, a))
	a.Password = accountvault.Secret{}
	checkEqual(t, "password cleared", a, mustUpsert(t, b, a))
	checkEqual(t, "password cleared, found", a, mustFind(t, b, accountvault.ProviderCredential, "user-0"))
}

func testEmptyValues(t *testing.T, b accountvault.Backend) {
	a := accountvault.SealedRow{ID: "acc-1", UserID: "user-1", ProviderID: "google", AccountID: "sub-1", CreatedAt: base, UpdatedAt: base}
	got := mustUpsert(t, b, a)
	checkEqual(t, "Upsert result, only ids", a, got)
	checkNilTokens(t, "Upsert result, only ids", got)
	got = mustFind(t, b, "google", "sub-1")
	checkEqual(t, "FindByProvider result, only ids", a, got)
	checkNilTokens(t, "FindByProvider result, only ids", got)
	// Set everything, then clear it again by upsert, with empty rather
	// than nil tokens: they too are stored as NULL.
	full := account("acc-1", "user-1", "google", "sub-1", "x")
	full.Password = secret("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")
	checkEqual(t, "everything set", full, mustUpsert(t, b, full))
	cleared := a
	cleared.AccessToken, cleared.RefreshToken, cleared.IDToken = []byte{}, []byte{}, []byte{}
	checkEqual(t, "everything cleared", a, mustUpsert(t, b, cleared))
	got = mustFind(t, b, "google", "sub-1")
	checkEqual(t, "everything cleared, found", a, got)
	checkNilTokens(t, "everything cleared, found", got)
	rows, err := b.FindForUser(t.Context(), "user-1")
	if err != nil || len(rows) != 1 {
		t.Fatalf("FindForUser: %d rows, %v", len(rows), err)
	}
	checkNilTokens(t, "everything cleared, FindForUser", rows[0])
}

func testExpiries(t *testing.T, b accountvault.Backend) {
	cases := []struct {
		name            string
		access, refresh *time.Time
	}{
		{"none", nil, nil},
		{"access only", at(60), nil},
		{"refresh only", nil, at(120)},
		{"both", at(60), at(120)},
		{"before 1970", ptr(time.Unix(-86400*365, 0)), ptr(time.Unix(-1, 0))},
		{"epoch zero", ptr(time.Unix(0, 0)), ptr(time.Unix(0, 0))},
		{"far future", ptr(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)), ptr(time.Unix(1<<40, 0))},
		{"zero time", ptr(time.Time{}), nil},
	}
	for i, c := range cases {
		a := account(fmt.Sprint("acc-", i), "user-1", "google", fmt.Sprint("sub-", i), "e")
		a.AccessTokenExpiresAt, a.RefreshTokenExpiresAt = c.access, c.refresh
		checkEqual(t, c.name+": Upsert result", a, mustUpsert(t, b, a))
		checkEqual(t, c.name+": FindByProvider result", a, mustFind(t, b, "google", a.AccountID))
	}
	// Set, then cleared by upsert.
	a := account("acc-x", "user-1", "github", "sub-x", "e")
	mustUpsert(t, b, a)
	a.AccessTokenExpiresAt, a.RefreshTokenExpiresAt = nil, nil
	mustUpsert(t, b, a)
	checkEqual(t, "expiries cleared", a, mustFind(t, b, "github", "sub-x"))
}

func ptr(t time.Time) *time.Time { return &t }

func testBinaryTokens(t *testing.T, b accountvault.Backend) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	reversed := slices.Clone(all)
	slices.Reverse(reversed)
	cases := []struct {
		name                   string
		access, refresh, idTok string
	}{
		{"every byte", string(all), string(reversed), string(all[128:]) + string(all[:128])},
		{"NUL only", "\x00", "\x00\x00\x00", strings.Repeat("\x00", 1000)},
		{"invalid UTF-8", "\xff\xfe\xfd", "\xc3\x28", "a\x80b"},
		{"trailing NUL and spaces", "tok\x00", "tok ", " tok"},
		{"high bytes", strings.Repeat("\xff", 4096), strings.Repeat("\x80\x00", 2048), "\xf4\x90\x80\x80"},
	}
	for i, c := range cases {
		a := account(fmt.Sprint("acc-", i), "user-1", "google", fmt.Sprint("sub-", i), "b")
		a.AccessToken, a.RefreshToken, a.IDToken = []byte(c.access), []byte(c.refresh), []byte(c.idTok)
		checkEqual(t, c.name+": Upsert result", a, mustUpsert(t, b, a))
		checkEqual(t, c.name+": FindByProvider result", a, mustFind(t, b, "google", a.AccountID))
		got, err := b.FindForUser(t.Context(), "user-1")
		if err != nil || len(got) != i+1 {
			t.Fatalf("%s: FindForUser: %d rows, %v", c.name, len(got), err)
		}
		checkEqual(t, c.name+": FindForUser result", a, got[i])
	}
}

func testMaxSizes(t *testing.T, b accountvault.Backend) {
	id := func(c byte) string { return strings.Repeat(string(c), accountvault.MaxIDSize) }
	a := accountvault.SealedRow{
		ID:           id('i'),
		UserID:       id('u'),
		ProviderID:   id('p'),
		AccountID:    id('a'),
		AccessToken:  bytes.Repeat([]byte{1}, accountvault.MaxTokenSize),
		RefreshToken: bytes.Repeat([]byte{2}, accountvault.MaxTokenSize),
		IDToken:      bytes.Repeat([]byte{3}, accountvault.MaxTokenSize),
		Scope:        strings.Repeat("s", accountvault.MaxScopeSize),
		Password:     secret(strings.Repeat("$", accountvault.MaxPasswordSize)),
		CreatedAt:    base,
		UpdatedAt:    base,
	}
	checkEqual(t, "Upsert result at the size limits", a, mustUpsert(t, b, a))
	checkEqual(t, "FindByProvider result at the size limits", a, mustFind(t, b, a.ProviderID, a.AccountID))
	// Multi-byte text at the limit.
	m := account(strings.Repeat("é", accountvault.MaxIDSize/2), "user-1", "google", "sub-1", "m")
	m.Scope = strings.Repeat("日", accountvault.MaxScopeSize/3)
	checkEqual(t, "multi-byte text at the limits", m, mustUpsert(t, b, m))
	checkEqual(t, "multi-byte text at the limits, found", m, mustFind(t, b, "google", "sub-1"))
}
