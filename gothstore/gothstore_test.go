package gothstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/markbates/goth"
	"github.com/markbates/goth/providers/github"
	"golang.org/x/oauth2"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/gothstore"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

var ctx = context.Background()

// newStore returns a store over env with a fresh keyring.
func newStore(t testing.TB, env *avtest.Env) *store.Store {
	t.Helper()
	return storeOver(t, env.Backend, newKEK(t))
}

func newKEK(t testing.TB) *keyring.KEK {
	t.Helper()
	k, err := keyring.Generate()
	if err != nil {
		t.Fatalf("keyring.Generate: %v", err)
	}
	kek, err := k.KEK()
	if err != nil {
		t.Fatalf("KEK: %v", err)
	}
	return kek
}

func storeOver(t testing.TB, b accountvault.Backend, kek *keyring.KEK) *store.Store {
	t.Helper()
	s, err := store.New(b, kek)
	if err != nil {
		t.Fatalf("store.New: %v", err)
	}
	return s
}

func find(t testing.TB, s *store.Store, provider, accountID string) accountvault.Account {
	t.Helper()
	a, err := s.FindByProvider(ctx, provider, accountID)
	if err != nil {
		t.Fatalf("FindByProvider(%s, %s): %v", provider, accountID, err)
	}
	return a
}

// sameAccount fails t unless got and want are the same row with the same
// values; it never prints a token.
func sameAccount(t testing.TB, what string, got, want accountvault.Account) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.ProviderID != want.ProviderID || got.AccountID != want.AccountID {
		t.Errorf("%s: ids (%q %q %q %q), want (%q %q %q %q)", what, got.ID, got.UserID, got.ProviderID, got.AccountID,
			want.ID, want.UserID, want.ProviderID, want.AccountID)
	}
	for _, f := range []struct {
		name      string
		got, want accountvault.Secret
	}{
		{"AccessToken", got.AccessToken, want.AccessToken},
		{"RefreshToken", got.RefreshToken, want.RefreshToken},
		{"IDToken", got.IDToken, want.IDToken},
	} {
		if !f.got.Equal(f.want) {
			t.Errorf("%s: %s differs (len %d, want len %d)", what, f.name, f.got.Len(), f.want.Len())
		}
	}
	sameTime(t, what+": AccessTokenExpiresAt", got.AccessTokenExpiresAt, want.AccessTokenExpiresAt)
	sameTime(t, what+": RefreshTokenExpiresAt", got.RefreshTokenExpiresAt, want.RefreshTokenExpiresAt)
	if got.Scope != want.Scope {
		t.Errorf("%s: Scope %q, want %q", what, got.Scope, want.Scope)
	}
	if !got.UpdatedAt.Equal(want.UpdatedAt) || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("%s: CreatedAt, UpdatedAt = %v, %v; want %v, %v", what, got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
}

func sameTime(t testing.TB, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil || !got.Equal(*want):
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// backdate rewrites the stored row of (provider, accountID) with an
// UpdatedAt in 2020 and the given refresh-token expiry, so that a test can
// see which write changed them. It returns the row as stored.
func backdate(t testing.TB, s *store.Store, provider, accountID string, refreshExp *time.Time) accountvault.Account {
	t.Helper()
	a := find(t, s, provider, accountID)
	a.UpdatedAt = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	a.RefreshTokenExpiresAt = refreshExp
	got, err := s.Upsert(ctx, a)
	if err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	return got
}

// recent fails t unless tm is not before start (at the store's whole
// seconds).
func recent(t testing.TB, what string, tm, start time.Time) {
	t.Helper()
	if tm.Before(start.Truncate(time.Second)) || tm.After(time.Now()) {
		t.Errorf("%s = %v, want the time of the write (after %v)", what, tm, start)
	}
}

// noSecretIn fails t if any of secrets appears in s.
func noSecretIn(t testing.TB, what, s string, secrets ...string) {
	t.Helper()
	for i, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			t.Errorf("%s contains secret #%d", what, i)
		}
	}
}

// expiredLogin returns a goth.User whose access token expired an hour ago,
// with a refresh token ts accepts.
func expiredLogin(ts *tokenServer, p goth.Provider) goth.User {
	rt := "rt-" + strings.Repeat("0", 8) + "-initial"
	ts.addRefreshToken(rt)
	return goth.User{
		Provider: p.Name(), UserID: "4242",
		AccessToken: "at-initial-expired", RefreshToken: rt, IDToken: "idt-initial",
		ExpiresAt: time.Now().Add(-time.Hour),
	}
}

func TestSaveRoundTrip(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		kek := newKEK(t)
		s := storeOver(t, env.Backend, kek)
		ts := newTokenServer(t)
		p := ts.provider()
		u := ts.login(t, p) // goth's real authorization-code flow
		if u.UserID != "4242" || u.AccessToken == "" || u.RefreshToken == "" || u.ExpiresAt.IsZero() {
			t.Fatalf("login gave UserID %q, token lengths %d/%d, ExpiresAt %v", u.UserID, len(u.AccessToken), len(u.RefreshToken), u.ExpiresAt)
		}
		u.IDToken = "idt-" + strings.Repeat("x", 40) // gitlab's provider sets none; the field must still be kept

		saved, err := gothstore.Save(ctx, s, "user_1", u, gothstore.WithID("acc_1"), gothstore.WithScope("read_user"))
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		exp := u.ExpiresAt.UTC().Truncate(time.Second)
		want := accountvault.Account{
			ID: "acc_1", UserID: "user_1", ProviderID: "gitlab", AccountID: "4242",
			AccessToken:          accountvault.NewSecret(u.AccessToken),
			RefreshToken:         accountvault.NewSecret(u.RefreshToken),
			IDToken:              accountvault.NewSecret(u.IDToken),
			AccessTokenExpiresAt: &exp,
			Scope:                "read_user",
			CreatedAt:            saved.CreatedAt, UpdatedAt: saved.UpdatedAt,
		}
		sameAccount(t, "Save's result", saved, want)
		sameAccount(t, "read back", find(t, s, "gitlab", "4242"), want)
		if saved.CreatedAt.IsZero() {
			t.Error("CreatedAt is zero")
		}
		// A store over a second connection (another replica) reads the same.
		s2 := storeOver(t, env.Reopen(t), kek)
		sameAccount(t, "read back by a second store", find(t, s2, "gitlab", "4242"), want)
	})
}

func TestSaveRelink(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env)
		first := goth.User{Provider: "google", UserID: "sub-1", AccessToken: "at-1", RefreshToken: "rt-1", IDToken: "idt-1",
			ExpiresAt: time.Unix(1_900_000_000, 0)}
		a1, err := gothstore.Save(ctx, s, "user_1", first, gothstore.WithScope("openid email"))
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		if !strings.HasPrefix(a1.ID, "acc_") || len(a1.ID) != len("acc_")+26 {
			t.Errorf("generated ID %q, want acc_ and 26 base32 digits", a1.ID)
		}
		rtExp := time.Unix(1_950_000_000, 0).UTC()
		a1 = backdate(t, s, "google", "sub-1", &rtExp)
		start := time.Now()
		// Google sends a refresh token on the first consent only.
		second := goth.User{Provider: "google", UserID: "sub-1", AccessToken: "at-2", IDToken: "idt-2"}
		a2, err := gothstore.Save(ctx, s, "user_1", second, gothstore.WithID("ignored"))
		if err != nil {
			t.Fatalf("second Save: %v", err)
		}
		want := a1
		want.AccessToken, want.IDToken, want.AccessTokenExpiresAt = accountvault.NewSecret("at-2"), accountvault.NewSecret("idt-2"), nil
		want.UpdatedAt = a2.UpdatedAt
		recent(t, "UpdatedAt after a re-link", a2.UpdatedAt, start)
		sameAccount(t, "re-link without a refresh token", a2, want)
		sameAccount(t, "read back", find(t, s, "google", "sub-1"), want)

		third := goth.User{Provider: "google", UserID: "sub-1", AccessToken: "at-3", RefreshToken: "rt-3"}
		a3, err := gothstore.Save(ctx, s, "user_1", third, gothstore.WithScope("openid"))
		if err != nil {
			t.Fatalf("third Save: %v", err)
		}
		want.AccessToken, want.RefreshToken, want.IDToken, want.Scope = accountvault.NewSecret("at-3"), accountvault.NewSecret("rt-3"), accountvault.Secret{}, "openid"
		want.UpdatedAt, want.RefreshTokenExpiresAt = a3.UpdatedAt, nil // the old expiry is not the new token's
		sameAccount(t, "re-link with a refresh token", find(t, s, "google", "sub-1"), want)
	})
}

func TestSaveRefusesAnotherUsersIdentity(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env)
		u := goth.User{Provider: "github", UserID: "99", AccessToken: "at-victim"}
		before, err := gothstore.Save(ctx, s, "victim", u)
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		u.AccessToken = "at-attacker"
		_, err = gothstore.Save(ctx, s, "attacker", u)
		if !errors.Is(err, gothstore.ErrLinkedToOtherUser) {
			t.Fatalf("Save for another user: error %v, want ErrLinkedToOtherUser", err)
		}
		noSecretIn(t, "error", err.Error(), "at-victim", "at-attacker")
		sameAccount(t, "after the refused Save", find(t, s, "github", "99"), before)
	})
}

func TestSaveInvalid(t *testing.T) {
	avtest.Each(t, testSaveInvalid)
}

func testSaveInvalid(t *testing.T, env *avtest.Env) {
	s := newStore(t, env)
	ok := goth.User{Provider: "github", UserID: "7", AccessToken: "at-x"}
	for _, c := range []struct {
		name, userID, field string
		edit                func(u *goth.User)
	}{
		{"no app user", "", "UserID", func(*goth.User) {}},
		{"no provider", "user_1", "ProviderID", func(u *goth.User) { u.Provider = "" }},
		{"no subject", "user_1", "AccountID", func(u *goth.User) { u.UserID = "" }},
		{"OAuth 1.0a", "user_1", "AccessToken", func(u *goth.User) { u.AccessTokenSecret = "ts-secret" }},
		{"NUL in subject", "user_1", "AccountID", func(u *goth.User) { u.UserID = "7\x00" }},
		{"subject too long", "user_1", "AccountID", func(u *goth.User) { u.UserID = strings.Repeat("7", accountvault.MaxIDSize+1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := ok
			c.edit(&u)
			_, err := gothstore.Save(ctx, s, c.userID, u)
			var ie *accountvault.InvalidAccountError
			if !errors.Is(err, accountvault.ErrInvalidAccount) || !errors.As(err, &ie) || ie.Field != c.field {
				t.Fatalf("Save: error %v, want an InvalidAccountError for %s", err, c.field)
			}
			noSecretIn(t, "error", err.Error(), "at-x", "ts-secret")
			if rows, err := s.List(ctx, "", 10); err != nil || len(rows) != 0 {
				t.Fatalf("List after a refused Save: %d rows, %v", len(rows), err)
			}
		})
	}
}

func TestRefreshRotates(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env)
		ts := newTokenServer(t)
		ts.rotate, ts.revoke, ts.idToken, ts.scope = true, true, true, "read_user api"
		p := ts.provider()
		u := expiredLogin(ts, p)
		if _, err := gothstore.Save(ctx, s, "user_1", u, gothstore.WithScope("read_user")); err != nil {
			t.Fatalf("Save: %v", err)
		}
		rtExp := time.Unix(1_950_000_000, 0).UTC()
		before := backdate(t, s, "gitlab", "4242", &rtExp)

		start := time.Now()
		got, err := gothstore.Refresh(ctx, s, p, "4242")
		if err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		n, seen, issued := ts.stats()
		if n != 1 || len(seen) != 1 || seen[0] != u.RefreshToken {
			t.Fatalf("token endpoint answered %d refreshes, saw %d refresh tokens (the stored one first: %v)", n, len(seen), len(seen) > 0 && seen[0] == u.RefreshToken)
		}
		if !got.AccessToken.Equal(accountvault.NewSecret(issued[len(issued)-1])) {
			t.Error("AccessToken is not the one the server issued")
		}
		for name, v := range map[string]accountvault.Secret{"AccessToken": got.AccessToken, "RefreshToken": got.RefreshToken, "IDToken": got.IDToken} {
			old := map[string]accountvault.Secret{"AccessToken": before.AccessToken, "RefreshToken": before.RefreshToken, "IDToken": before.IDToken}[name]
			if v.IsZero() || v.Equal(old) {
				t.Errorf("%s was not replaced (len %d)", name, v.Len())
			}
		}
		if !strings.HasPrefix(got.RefreshToken.Reveal(), "rt-") || !strings.HasPrefix(got.IDToken.Reveal(), "idt-") {
			t.Error("RefreshToken or IDToken is not the server's")
		}
		if got.AccessTokenExpiresAt == nil || got.AccessTokenExpiresAt.Before(start.Add(3590*time.Second)) || got.AccessTokenExpiresAt.After(time.Now().Add(3601*time.Second)) {
			t.Errorf("AccessTokenExpiresAt = %v, want an hour from now", got.AccessTokenExpiresAt)
		}
		if got.RefreshTokenExpiresAt != nil {
			t.Errorf("RefreshTokenExpiresAt = %v after rotation, want nil (the old token's expiry is not the new one's)", got.RefreshTokenExpiresAt)
		}
		recent(t, "UpdatedAt after a refresh", got.UpdatedAt, start)
		if got.Scope != "read_user api" {
			t.Errorf("Scope = %q, want the token response's", got.Scope)
		}
		if got.ID != before.ID || got.UserID != "user_1" || !got.CreatedAt.Equal(before.CreatedAt) {
			t.Errorf("refresh changed the row's identity: %q %q %v", got.ID, got.UserID, got.CreatedAt)
		}
		sameAccount(t, "read back", find(t, s, "gitlab", "4242"), got)

		// Now valid: no second refresh.
		again, err := gothstore.Refresh(ctx, s, p, "4242")
		if err != nil {
			t.Fatalf("second Refresh: %v", err)
		}
		if n, _, _ := ts.stats(); n != 1 {
			t.Errorf("a valid token was refreshed again (%d refreshes)", n)
		}
		sameAccount(t, "second Refresh", again, got)
	})
}

func TestRefreshKeepsRefreshToken(t *testing.T) {
	env := avtest.New(t, "sqlite")
	s := newStore(t, env)
	ts := newTokenServer(t) // no rotation, no id_token, no scope
	p := ts.provider()
	u := expiredLogin(ts, p)
	if _, err := gothstore.Save(ctx, s, "user_1", u, gothstore.WithScope("read_user")); err != nil {
		t.Fatalf("Save: %v", err)
	}
	rtExp := time.Unix(1_950_000_000, 0).UTC()
	before := backdate(t, s, "gitlab", "4242", &rtExp)
	start := time.Now()
	got, err := gothstore.Refresh(ctx, s, p, "4242")
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got.AccessToken.Equal(before.AccessToken) {
		t.Error("AccessToken not replaced")
	}
	if !got.RefreshToken.Equal(before.RefreshToken) || !got.IDToken.Equal(before.IDToken) || got.Scope != "read_user" {
		t.Error("RefreshToken, IDToken or Scope not kept when the response has none")
	}
	sameTime(t, "RefreshTokenExpiresAt of a kept refresh token", got.RefreshTokenExpiresAt, &rtExp)
	recent(t, "UpdatedAt after a refresh", got.UpdatedAt, start)
	sameAccount(t, "read back", find(t, s, "gitlab", "4242"), got)
}

func TestRefreshInvalidGrant(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env)
		ts := newTokenServer(t)
		p := ts.provider()
		u := expiredLogin(ts, p)
		u.RefreshToken = "rt-revoked-" + strings.Repeat("z", 20) // not valid at the server
		before, err := gothstore.Save(ctx, s, "user_1", u)
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		_, err = gothstore.Refresh(ctx, s, p, "4242")
		if err == nil {
			t.Fatal("Refresh with a revoked refresh token: no error")
		}
		var rerr *oauth2.RetrieveError
		if !errors.As(err, &rerr) || rerr.ErrorCode != "invalid_grant" {
			t.Fatalf("Refresh: error %q is not an oauth2.RetrieveError with invalid_grant", describeErr(err, u))
		}
		var gerr *gothstore.RefreshError
		if !errors.As(err, &gerr) || gerr.ProviderID != "gitlab" || gerr.AccountID != "4242" {
			t.Fatalf("Refresh: error %q is not a RefreshError for gitlab/4242", describeErr(err, u))
		}
		// The server echoed the refresh token in error_description; the
		// error's message must not carry it.
		if !strings.Contains(rerr.ErrorDescription, u.RefreshToken) {
			t.Fatal("test server did not echo the token: the leak check below would prove nothing")
		}
		noSecretIn(t, "error message", err.Error(), u.RefreshToken, u.AccessToken, u.IDToken)
		if !strings.Contains(err.Error(), "invalid_grant") || !strings.Contains(err.Error(), "400") {
			t.Errorf("error message %q does not name the status and code", describeErr(err, u))
		}
		sameAccount(t, "after the failed refresh", find(t, s, "gitlab", "4242"), before)
	})
}

// describeErr is err's message with u's tokens masked, for failure messages.
func describeErr(err error, u goth.User) string {
	msg := err.Error()
	for _, s := range []string{u.AccessToken, u.RefreshToken, u.IDToken} {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[TOKEN]")
		}
	}
	return msg
}

func TestRefreshNotRefreshable(t *testing.T) {
	env := avtest.New(t, "sqlite")
	s := newStore(t, env)
	ts := newTokenServer(t)

	// GitHub OAuth apps have no refresh: goth's github provider says so.
	gh := github.NewCustomisedURL("id", "secret", "http://app.test/cb", ts.URL+"/a", ts.URL+"/oauth/token", ts.URL+"/u", ts.URL+"/e")
	u := goth.User{Provider: gh.Name(), UserID: "1", AccessToken: "at-gh", RefreshToken: "rt-gh", ExpiresAt: time.Now().Add(-time.Minute)}
	before, err := gothstore.Save(ctx, s, "user_1", u)
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	_, err = gothstore.Refresh(ctx, s, gh, "1")
	var gerr *gothstore.RefreshError
	if !errors.Is(err, gothstore.ErrNotRefreshable) || !errors.As(err, &gerr) {
		t.Fatalf("Refresh through github: error %v, want ErrNotRefreshable", err)
	}
	sameAccount(t, "after", find(t, s, "github", "1"), before)

	// A refreshable provider, but no refresh token stored.
	p := ts.provider()
	if _, err := gothstore.Save(ctx, s, "user_1", goth.User{Provider: "gitlab", UserID: "4242", AccessToken: "at-gl", ExpiresAt: time.Now()}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if _, err := gothstore.Refresh(ctx, s, p, "4242"); !errors.Is(err, gothstore.ErrNotRefreshable) {
		t.Fatalf("Refresh without a refresh token: error %v, want ErrNotRefreshable", err)
	}
	// Within ExpiryDelta of its expiry, a token counts as expired.
	if _, err := gothstore.Save(ctx, s, "user_1", goth.User{Provider: "gitlab", UserID: "4242", AccessToken: "at-gl",
		ExpiresAt: time.Now().Add(gothstore.ExpiryDelta / 2)}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if _, err := gothstore.Refresh(ctx, s, p, "4242"); !errors.Is(err, gothstore.ErrNotRefreshable) {
		t.Fatalf("Refresh within ExpiryDelta: error %v, want ErrNotRefreshable", err)
	}
	if n, seen, _ := ts.stats(); n != 0 || len(seen) != 0 {
		t.Errorf("the token endpoint was called (%d, %d)", n, len(seen))
	}
	if _, err := gothstore.Refresh(ctx, s, p, "nobody"); !errors.Is(err, accountvault.ErrNotFound) {
		t.Fatalf("Refresh of an unlinked account: error %v, want ErrNotFound", err)
	}
}

func TestRefreshCancelled(t *testing.T) {
	env := avtest.New(t, "sqlite")
	s := newStore(t, env)
	ts := newTokenServer(t)
	p := ts.provider()
	before, err := gothstore.Save(ctx, s, "user_1", expiredLogin(ts, p))
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := gothstore.Refresh(cctx, s, p, "4242"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Refresh with a cancelled context: error %v, want context.Canceled", err)
	}
	if _, seen, _ := ts.stats(); len(seen) != 0 {
		t.Error("the token endpoint was called with a cancelled context")
	}
	sameAccount(t, "after", find(t, s, "gitlab", "4242"), before)
}

// TestRefreshConcurrent has two refreshes of one expired account reach the
// token endpoint together: the first to write wins, the other returns the
// winner's tokens without a third call to the endpoint.
func TestRefreshConcurrent(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env)
		ts := newTokenServer(t)
		ts.rotate, ts.idToken, ts.hold = true, true, 2
		p := ts.provider()
		if _, err := gothstore.Save(ctx, s, "user_1", expiredLogin(ts, p)); err != nil {
			t.Fatalf("Save: %v", err)
		}
		var wg sync.WaitGroup
		var got [2]accountvault.Account
		var errs [2]error
		for i := range got {
			wg.Go(func() { got[i], errs[i] = gothstore.Refresh(ctx, s, p, "4242") })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Refresh #%d: %v", i, err)
			}
		}
		n, _, issued := ts.stats()
		if n != 2 {
			t.Fatalf("token endpoint answered %d refreshes, want 2 (one each, none repeated)", n)
		}
		stored := find(t, s, "gitlab", "4242")
		sameAccount(t, "Refresh #0 against the stored row", got[0], stored)
		sameAccount(t, "Refresh #1 against the stored row", got[1], stored)
		winner := 0
		for _, at := range issued[len(issued)-2:] {
			if stored.AccessToken.Equal(accountvault.NewSecret(at)) {
				winner++
			}
		}
		if winner != 1 {
			t.Errorf("stored access token is %d of the two refreshes' tokens, want exactly one", winner)
		}
	})
}

// TestSaveDuringRefresh races a login without a refresh token (Save keeps
// the stored one) against a refresh that rotates it, round after round.
// Whatever the interleaving, the refresh token a successful refresh
// returned must be the one stored at the end: a Save that read the row
// before the refresh wrote it must not put the old refresh token back.
// The race is not forced, so a broken Save fails this test in some rounds
// only; each round checks.
func TestSaveDuringRefresh(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env)
		ts := newTokenServer(t)
		ts.rotate = true
		p := ts.provider()
		if _, err := gothstore.Save(ctx, s, "user_1", expiredLogin(ts, p)); err != nil {
			t.Fatalf("Save: %v", err)
		}
		relogin := goth.User{Provider: "gitlab", UserID: "4242", AccessToken: "at-relogin", ExpiresAt: time.Now().Add(-time.Hour)}
		rounds := 40
		if testing.Short() {
			rounds = 10
		}
		for round := range rounds {
			var wg sync.WaitGroup
			var refreshed accountvault.Account
			var errRefresh, errSave error
			wg.Go(func() { refreshed, errRefresh = gothstore.Refresh(ctx, s, p, "4242") })
			wg.Go(func() { _, errSave = gothstore.Save(ctx, s, "user_1", relogin) })
			wg.Wait()
			if errRefresh != nil || errSave != nil {
				t.Fatalf("round %d: Refresh: %v; Save: %v", round, errRefresh, errSave)
			}
			stored := find(t, s, "gitlab", "4242")
			if !stored.RefreshToken.Equal(refreshed.RefreshToken) {
				t.Fatalf("round %d: the stored refresh token is not the one Refresh returned: a Save overwrote a refresh", round)
			}
			// Expire the token again for the next round.
			if _, err := gothstore.Save(ctx, s, "user_1", relogin); err != nil {
				t.Fatalf("Save: %v", err)
			}
		}
	})
}

// TestRefreshConcurrentRevoking is TestRefreshConcurrent with a provider
// that revokes a refresh token on use: the second refresh is refused
// (invalid_grant) after the first one's tokens are stored, and returns
// those instead of the error.
func TestRefreshConcurrentRevoking(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env)
		ts := newTokenServer(t)
		ts.rotate, ts.revoke, ts.hold = true, true, 2
		p := ts.provider()
		initial, err := gothstore.Save(ctx, s, "user_1", expiredLogin(ts, p))
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		ts.beforeLate = func() { // answer the late request once the first refresh is stored
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				a, err := s.FindByProvider(ctx, "gitlab", "4242")
				if err == nil && !a.RefreshToken.Equal(initial.RefreshToken) {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		var wg sync.WaitGroup
		var got [2]accountvault.Account
		var errs [2]error
		for i := range got {
			wg.Go(func() { got[i], errs[i] = gothstore.Refresh(ctx, s, p, "4242") })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Refresh #%d: %v", i, err)
			}
		}
		// oauth2 tries a refused request again with the client's
		// credentials in the body (AuthStyleAutoDetect): count refreshes
		// answered, not requests.
		n, seen, _ := ts.stats()
		if n != 1 || len(seen) < 2 {
			t.Fatalf("token endpoint: %d refreshes answered, %d requests; want 1 and 2 or more (the second refused)", n, len(seen))
		}
		for _, rt := range seen {
			if rt != initial.RefreshToken.Reveal() {
				t.Fatal("a refresh used another refresh token than the initial one: it refreshed again")
			}
		}
		stored := find(t, s, "gitlab", "4242")
		if stored.RefreshToken.Equal(initial.RefreshToken) {
			t.Fatal("the stored refresh token was not rotated")
		}
		sameAccount(t, "Refresh #0 against the stored row", got[0], stored)
		sameAccount(t, "Refresh #1 against the stored row", got[1], stored)
	})
}
