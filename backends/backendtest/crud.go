package backendtest

import (
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
	rows := []accountvault.Account{
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
	byID := map[string]accountvault.Account{}
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
	second.Password = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
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

func testPassword(t *testing.T, b accountvault.Backend) {
	hashes := []string{
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"0123456789abcdef:" + strings.Repeat("ab", 64), // better-auth scrypt salt:key
	}
	for i, h := range hashes {
		a := account(fmt.Sprint("cred-", i), fmt.Sprint("user-", i), accountvault.ProviderCredential, fmt.Sprint("user-", i), "p")
		a.AccessToken, a.RefreshToken, a.IDToken = "", "", ""
		a.AccessTokenExpiresAt, a.RefreshTokenExpiresAt = nil, nil
		a.Scope = ""
		a.Password = accountvault.Secret(h)
		checkEqual(t, fmt.Sprint("Upsert result, hash ", i), a, mustUpsert(t, b, a))
		checkEqual(t, fmt.Sprint("FindByProvider result, hash ", i), a, mustFind(t, b, accountvault.ProviderCredential, a.AccountID))
	}
	// Changing, then clearing, the password.
	a := mustFind(t, b, accountvault.ProviderCredential, "user-0")
	a.Password = accountvault.Secret(hashes[1])
	checkEqual(t, "password changed", a, mustUpsert(t, b, a))
	a.Password = ""
	checkEqual(t, "password cleared", a, mustUpsert(t, b, a))
	checkEqual(t, "password cleared, found", a, mustFind(t, b, accountvault.ProviderCredential, "user-0"))
}

func testEmptyValues(t *testing.T, b accountvault.Backend) {
	a := accountvault.Account{ID: "acc-1", UserID: "user-1", ProviderID: "google", AccountID: "sub-1", CreatedAt: base, UpdatedAt: base}
	checkEqual(t, "Upsert result, only ids", a, mustUpsert(t, b, a))
	checkEqual(t, "FindByProvider result, only ids", a, mustFind(t, b, "google", "sub-1"))
	// Set everything, then clear it again by upsert.
	full := account("acc-1", "user-1", "google", "sub-1", "x")
	full.Password = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
	checkEqual(t, "everything set", full, mustUpsert(t, b, full))
	checkEqual(t, "everything cleared", a, mustUpsert(t, b, a))
	checkEqual(t, "everything cleared, found", a, mustFind(t, b, "google", "sub-1"))
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
		a.AccessToken, a.RefreshToken, a.IDToken = accountvault.Secret(c.access), accountvault.Secret(c.refresh), accountvault.Secret(c.idTok)
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
	a := accountvault.Account{
		ID:           id('i'),
		UserID:       id('u'),
		ProviderID:   id('p'),
		AccountID:    id('a'),
		AccessToken:  accountvault.Secret(strings.Repeat("\x01", accountvault.MaxTokenSize)),
		RefreshToken: accountvault.Secret(strings.Repeat("\x02", accountvault.MaxTokenSize)),
		IDToken:      accountvault.Secret(strings.Repeat("\x03", accountvault.MaxTokenSize)),
		Scope:        strings.Repeat("s", accountvault.MaxScopeSize),
		Password:     accountvault.Secret(strings.Repeat("$", accountvault.MaxPasswordSize)),
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
