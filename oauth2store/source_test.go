package oauth2store_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/oauth2store"
	"github.com/accountvault/accountvault/store"
)

var ctx = context.Background()

const provider, subject = "fosite", "peter"

// replicas returns env and two stores over its table through separate
// backend handles (for SQLite, two handles on one file; for Postgres, two
// pools), as two replicas of an application have.
func replicas(t *testing.T, kind string) (*avtest.Env, [2]*store.Store) {
	t.Helper()
	env := avtest.New(t, kind)
	k, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	kek, err := k.KEK()
	if err != nil {
		t.Fatal(err)
	}
	var out [2]*store.Store
	for i, b := range []accountvault.Backend{env.Backend, env.Reopen(t)} {
		if out[i], err = store.New(b, kek); err != nil {
			t.Fatalf("store.New: %v", err)
		}
	}
	return env, out
}

// link stores tok as the account's tokens; expired sets its expiry an
// hour ago, so that the first Token call refreshes.
func link(t *testing.T, s *store.Store, tok *oauth2.Token, expired bool) accountvault.Account {
	t.Helper()
	exp := tok.Expiry.Truncate(time.Second)
	if expired {
		exp = time.Now().Add(-time.Hour).Truncate(time.Second)
	}
	a := accountvault.Account{
		ID: "acct-1", UserID: "user-1", ProviderID: provider, AccountID: subject,
		AccessToken:          accountvault.NewSecret(tok.AccessToken),
		RefreshToken:         accountvault.NewSecret(tok.RefreshToken),
		AccessTokenExpiresAt: &exp,
		Scope:                "offline openid email",
	}
	got, err := s.Upsert(ctx, a)
	if err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	got.AccessToken, got.RefreshToken = a.AccessToken, a.RefreshToken
	return got
}

func find(t *testing.T, s *store.Store) accountvault.Account {
	t.Helper()
	a, err := s.FindByProvider(ctx, provider, subject)
	if err != nil {
		t.Fatalf("FindByProvider: %v", err)
	}
	return a
}

func newSource(t *testing.T, s *store.Store, cfg *oauth2.Config, opts ...oauth2store.Option) *oauth2store.Source {
	t.Helper()
	src, err := oauth2store.New(ctx, s, cfg, provider, subject, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return src
}

// holds reports whether the row holds exactly p's access and refresh
// tokens, without printing them.
func holds(a accountvault.Account, p pair) bool {
	return a.AccessToken.Reveal() == p.access && a.RefreshToken.Reveal() == p.refresh
}

// noTokenIn fails t if err's text contains any token of the server's.
func noTokenIn(t *testing.T, err error, a *authServer) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for g, p := range a.pairs {
		for _, v := range []string{p.access, p.refresh, p.id} {
			if v != "" && strings.Contains(err.Error(), v) {
				t.Errorf("the error's text contains a token of generation %d", g)
			}
		}
	}
}

// TestRefreshRace is the cross-replica story: two stores over one table
// (two replicas), 16 goroutines each, every goroutine with its own
// Source, ask for the account's token across several expiries, against a
// server that rotates refresh tokens and revokes the grant on reuse. The
// server must see exactly one refresh per expiry and no refused refresh;
// every token served must be one the server issued and not expired; the
// stored row must hold an issued pair at every read, never going back,
// and the newest pair at the end.
func TestRefreshRace(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		_, stores := replicas(t, env.Name)
		srv := newAuthServer(t, 2*time.Second)
		link(t, stores[0], srv.login(t), true)

		const expiries, perReplica = 5, 16
		var (
			counts   [2]oauth2store.Counters
			wg       sync.WaitGroup
			mu       sync.Mutex
			problems []string
			calls    atomic.Int64
		)
		problem := func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			if len(problems) < 20 {
				problems = append(problems, fmt.Sprintf(format, args...))
			}
		}
		done := func() bool { n, _, _ := srv.stats(); return n > expiries } // login + one pair per expiry
		deadline := time.Now().Add(time.Duration(expiries)*5*time.Second + 30*time.Second)
		for r := range 2 {
			for range perReplica {
				src := newSource(t, stores[r], srv.cfg,
					oauth2store.WithExpiryDelta(500*time.Millisecond),
					oauth2store.WithPollInterval(20*time.Millisecond),
					oauth2store.WithCounters(&counts[r]))
				wg.Go(func() {
					for !done() && time.Now().Before(deadline) {
						asked := time.Now()
						tok, err := src.Token()
						calls.Add(1)
						if err != nil {
							var re *oauth2.RetrieveError
							if errors.As(err, &re) {
								problem("replica %d: Token: the server refused: %s", r, re.ErrorCode)
							} else {
								problem("replica %d: Token: %v", r, err)
							}
							return
						}
						if g := srv.generation(tok.AccessToken); g < 0 {
							problem("replica %d: Token returned an access token the server never issued", r)
						}
						if !tok.Expiry.IsZero() && tok.Expiry.Before(asked) {
							problem("replica %d: Token returned a token that had expired %v before the call", r, asked.Sub(tok.Expiry))
						}
						time.Sleep(10 * time.Millisecond)
					}
				})
			}
		}
		// A reader checks the row on both replicas while they work.
		stop := make(chan struct{})
		var reader sync.WaitGroup
		reads := 0
		reader.Go(func() {
			last := -1
			for {
				select {
				case <-stop:
					return
				case <-time.After(15 * time.Millisecond):
				}
				for _, s := range stores {
					a, err := s.FindByProvider(ctx, provider, subject)
					if err != nil {
						problem("reader: FindByProvider: %v", err)
						return
					}
					reads++
					g := srv.generation(a.AccessToken.Reveal())
					srv.mu.Lock()
					ok := g >= 0 && holds(a, srv.pairs[g])
					srv.mu.Unlock()
					switch {
					case !ok:
						problem("reader: the row holds a pair the server did not issue together")
					case g < last:
						problem("reader: the row went back from generation %d to %d", last, g)
					}
					last = max(last, g)
				}
			}
		})
		wg.Wait()
		close(stop)
		reader.Wait()
		for _, p := range problems {
			t.Error(p)
		}

		issued, presents, failures := srv.stats()
		if issued <= expiries {
			t.Fatalf("the server issued %d pairs, want %d: the test ran out of time or stopped on errors", issued, expiries+1)
		}
		perGen := make([]int, issued-1)
		for g := range perGen {
			perGen[g] = presents[g]
		}
		total := 0
		for _, n := range presents {
			total += n
		}
		a, b := counts[0].Snapshot(), counts[1].Snapshot()
		t.Logf("%s: %d expiries, %d Token calls, %d row reads by the checker", env.Name, issued-1, calls.Load(), reads)
		t.Logf("%s: refreshes seen by the server per expiry (by generation of the refresh token spent): %v; refused: %d", env.Name, perGen, len(failures))
		t.Logf("%s: replica 0: %+v", env.Name, a)
		t.Logf("%s: replica 1: %+v", env.Name, b)
		if len(failures) > 0 {
			t.Errorf("the server refused %d refreshes: %v", len(failures), failures)
		}
		if total != issued-1 || slices.ContainsFunc(perGen, func(n int) bool { return n != 1 }) {
			t.Errorf("refreshes per expiry %v (total %d, %d by unknown refresh tokens), want exactly 1 each", perGen, total, presents[-1])
		}
		if got := a.Refreshes + b.Refreshes; got != int64(total) {
			t.Errorf("the Sources counted %d refreshes, the server %d", got, total)
		}
		newest, g := srv.newest()
		for i, s := range stores {
			if !holds(find(t, s), newest) {
				t.Errorf("replica %d: the row does not hold the newest pair (generation %d)", i, g)
			}
		}
	})
}

// TestServesValidToken checks that a valid stored token is served as it
// is, without a refresh, and then from memory.
func TestServesValidToken(t *testing.T) {
	_, stores := replicas(t, "sqlite")
	srv := newAuthServer(t, time.Hour)
	tok := srv.login(t)
	link(t, stores[0], tok, false)
	src := newSource(t, stores[0], srv.cfg)
	for range 3 {
		got, err := src.Token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		if got.AccessToken != tok.AccessToken || got.RefreshToken != tok.RefreshToken {
			t.Fatal("Token did not return the stored pair")
		}
		if !got.Expiry.Equal(tok.Expiry.Truncate(time.Second)) {
			t.Errorf("Expiry = %v, want the stored %v", got.Expiry, tok.Expiry.Truncate(time.Second))
		}
	}
	if issued, presents, _ := srv.stats(); issued != 1 || len(presents) != 0 {
		t.Errorf("the server issued %d pairs and saw %v refreshes, want the login only", issued, presents)
	}
}

// TestStoresRefresh checks what a refresh stores: the new access token,
// refresh token, expiry, scope and ID token; and that the other replica
// reads them.
func TestStoresRefresh(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		_, stores := replicas(t, env.Name)
		srv := newAuthServer(t, time.Hour)
		old := link(t, stores[0], srv.login(t), true)
		got, err := newSource(t, stores[0], srv.cfg).Token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		newest, g := srv.newest()
		if g != 1 || newest.id == "" {
			t.Fatalf("the server issued generation %d (ID token: %t), want 1 with an ID token", g, newest.id != "")
		}
		if got.AccessToken != newest.access || got.RefreshToken != newest.refresh {
			t.Error("Token did not return the refreshed pair")
		}
		if id, _ := got.Extra("id_token").(string); id != newest.id {
			t.Error("Token's id_token extra is not the refreshed ID token")
		}
		a := find(t, stores[1])
		if !holds(a, newest) {
			t.Error("the row does not hold the refreshed pair")
		}
		if a.IDToken.Reveal() != newest.id {
			t.Error("the row does not hold the refreshed ID token")
		}
		if a.AccessTokenExpiresAt == nil || time.Until(*a.AccessTokenExpiresAt) < 59*time.Minute {
			t.Errorf("stored expiry %v, want about an hour from now", a.AccessTokenExpiresAt)
		}
		if a.Scope != "offline openid email" {
			t.Errorf("stored scope %q", a.Scope)
		}
		if a.ID != old.ID || a.UserID != old.UserID || !a.CreatedAt.Equal(old.CreatedAt) {
			t.Error("the refresh changed the row's identity")
		}
	})
}

// TestKeepsRefreshToken checks that a refresh response without a refresh
// token keeps the stored one.
func TestKeepsRefreshToken(t *testing.T) {
	_, stores := replicas(t, "sqlite")
	srv := newAuthServer(t, time.Hour)
	srv.stripRefresh = true
	old := link(t, stores[0], srv.login(t), true)
	got, err := newSource(t, stores[0], srv.cfg).Token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	newest, _ := srv.newest()
	a := find(t, stores[0])
	if a.AccessToken.Reveal() != newest.access || got.AccessToken != newest.access {
		t.Error("the refreshed access token was not stored and returned")
	}
	if !a.RefreshToken.Equal(old.RefreshToken) || got.RefreshToken != old.RefreshToken.Reveal() {
		t.Error("the refresh token was not kept")
	}
}

// TestInvalidGrant checks that a refused refresh reaches the caller as an
// *oauth2.RetrieveError and writes nothing: the account holds a refresh
// token that was already spent, and the server revokes the grant.
func TestInvalidGrant(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		_, stores := replicas(t, env.Name)
		srv := newAuthServer(t, time.Hour)
		tok := srv.login(t)
		// Spend the refresh token outside the store.
		if _, err := srv.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
			t.Fatalf("refresh: %v", err)
		}
		old := link(t, stores[0], tok, true)
		_, err := newSource(t, stores[1], srv.cfg).Token()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("Token with a spent refresh token: %v, want an *oauth2.RetrieveError with invalid_grant", err)
		}
		noTokenIn(t, err, srv)
		a := find(t, stores[0])
		if !a.AccessToken.Equal(old.AccessToken) || !a.RefreshToken.Equal(old.RefreshToken) || !a.UpdatedAt.Equal(old.UpdatedAt) {
			t.Error("a refused refresh changed the row")
		}
		// The lease was released: it can be taken at once.
		l, err := stores[0].AcquireLease(ctx, oauth2store.LeaseName(provider, subject), time.Minute)
		if err != nil {
			t.Fatalf("the refresh lease after a failed refresh: %v", err)
		}
		if err := stores[0].ReleaseLease(ctx, l); err != nil {
			t.Fatal(err)
		}
	})
}

// TestNetworkError checks that a token endpoint that does not answer
// gives the HTTP client's error, and that nothing is written.
func TestNetworkError(t *testing.T) {
	_, stores := replicas(t, "sqlite")
	srv := newAuthServer(t, time.Hour)
	old := link(t, stores[0], srv.login(t), true)
	srv.srv.Close()
	_, err := newSource(t, stores[0], srv.cfg).Token()
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("Token with the server down: %v, want a *url.Error", err)
	}
	noTokenIn(t, err, srv)
	a := find(t, stores[0])
	if !a.AccessToken.Equal(old.AccessToken) || !a.RefreshToken.Equal(old.RefreshToken) || !a.UpdatedAt.Equal(old.UpdatedAt) {
		t.Error("a failed refresh changed the row")
	}
}

// TestAccountErrors checks the errors of a missing account and of an
// expired token without a refresh token, and New's argument checks.
func TestAccountErrors(t *testing.T) {
	_, stores := replicas(t, "sqlite")
	srv := newAuthServer(t, time.Hour)
	if _, err := newSource(t, stores[0], srv.cfg).Token(); !errors.Is(err, accountvault.ErrNotFound) {
		t.Errorf("Token of a missing account: %v, want ErrNotFound", err)
	}
	tok := srv.login(t)
	tok.RefreshToken = ""
	link(t, stores[0], tok, true)
	if _, err := newSource(t, stores[0], srv.cfg).Token(); !errors.Is(err, oauth2store.ErrNoRefreshToken) {
		t.Errorf("Token of an expired account without a refresh token: %v, want ErrNoRefreshToken", err)
	}
	if _, presents, _ := srv.stats(); len(presents) != 0 {
		t.Errorf("the server saw refreshes: %v", presents)
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"nil store", func() error { _, err := oauth2store.New(ctx, nil, srv.cfg, provider, subject); return err }()},
		{"nil config", func() error { _, err := oauth2store.New(ctx, stores[0], nil, provider, subject); return err }()},
		{"empty account", func() error { _, err := oauth2store.New(ctx, stores[0], srv.cfg, provider, ""); return err }()},
		{"zero lease", func() error {
			_, err := oauth2store.New(ctx, stores[0], srv.cfg, provider, subject, oauth2store.WithLeaseTTL(0))
			return err
		}()},
	} {
		if !errors.Is(c.err, accountvault.ErrInvalidArgument) {
			t.Errorf("New with %s: %v, want ErrInvalidArgument", c.name, c.err)
		}
	}
}

// TestWaitsForLeaseHolder checks that a Source that finds the lease held
// does not refresh: it waits, and returns the token that the holder (here,
// the test, as another replica) stores.
func TestWaitsForLeaseHolder(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		_, stores := replicas(t, env.Name)
		srv := newAuthServer(t, time.Hour)
		old := link(t, stores[0], srv.login(t), true)
		l, err := stores[0].AcquireLease(ctx, oauth2store.LeaseName(provider, subject), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var c oauth2store.Counters
		type result struct {
			tok *oauth2.Token
			err error
		}
		ch := make(chan result, 1)
		go func() {
			tok, err := newSource(t, stores[1], srv.cfg, oauth2store.WithPollInterval(10*time.Millisecond), oauth2store.WithCounters(&c)).Token()
			ch <- result{tok, err}
		}()
		// The holder refreshes and stores, while the Source waits.
		for c.Snapshot().LeaseWaits == 0 {
			select {
			case r := <-ch:
				t.Fatalf("Token returned (error %v) without waiting for the lease", r.err)
			case <-time.After(5 * time.Millisecond):
			}
		}
		tok, err := srv.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: old.RefreshToken.Reveal()}).Token()
		if err != nil {
			t.Fatal(err)
		}
		exp := tok.Expiry.Truncate(time.Second)
		n := old
		n.AccessToken, n.RefreshToken, n.AccessTokenExpiresAt = accountvault.NewSecret(tok.AccessToken), accountvault.NewSecret(tok.RefreshToken), &exp
		n.UpdatedAt = time.Time{}
		if err := stores[0].CompareAndSwap(ctx, old, n); err != nil {
			t.Fatal(err)
		}
		if err := stores[0].ReleaseLease(ctx, l); err != nil {
			t.Fatal(err)
		}
		r := <-ch
		if r.err != nil {
			t.Fatalf("Token: %v", r.err)
		}
		if r.tok.AccessToken != tok.AccessToken {
			t.Error("the waiting Source did not return the holder's token")
		}
		if _, presents, _ := srv.stats(); presents[0] != 1 || len(presents) != 1 {
			t.Errorf("refreshes by generation: %v, want the holder's only", presents)
		}
		if s := c.Snapshot(); s.Refreshes != 0 || s.FromOther != 1 {
			t.Errorf("the waiting Source's counters: %+v", s)
		}
	})
}

// TestTakesOverExpiredLease checks that a lease whose holder crashed is
// taken over once it expires, and that the taker refreshes once.
func TestTakesOverExpiredLease(t *testing.T) {
	_, stores := replicas(t, "sqlite")
	srv := newAuthServer(t, time.Hour)
	link(t, stores[0], srv.login(t), true)
	const ttl = time.Second
	if _, err := stores[0].AcquireLease(ctx, oauth2store.LeaseName(provider, subject), ttl); err != nil {
		t.Fatal(err) // never released: its holder "crashed"
	}
	start := time.Now()
	tok, err := newSource(t, stores[1], srv.cfg, oauth2store.WithLeaseTTL(ttl), oauth2store.WithPollInterval(10*time.Millisecond)).Token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if waited := time.Since(start); waited < ttl {
		t.Errorf("Token returned after %v, before the crashed holder's lease expired", waited)
	}
	newest, _ := srv.newest()
	if tok.AccessToken != newest.access || !holds(find(t, stores[0]), newest) {
		t.Error("the taker's refresh was not returned and stored")
	}
	if _, presents, _ := srv.stats(); presents[0] != 1 || len(presents) != 1 {
		t.Errorf("refreshes by generation: %v, want one", presents)
	}
}

// TestConflictKeepsNewestPair checks a lost compare-and-swap under the
// lease: the row changed outside the protocol (here its ID token) but
// still holds the refresh token the refresh spent, so the refreshed pair
// is written over it.
func TestConflictKeepsNewestPair(t *testing.T) {
	_, stores := replicas(t, "sqlite")
	srv := newAuthServer(t, time.Hour)
	srv.stripRefresh = false
	old := link(t, stores[0], srv.login(t), true)
	var c oauth2store.Counters
	// A transport that changes the row while the token request is on its
	// way: the write the Source must not lose to.
	var once sync.Once
	hc := *srvClient(func() {
		once.Do(func() {
			n := old
			n.IDToken = accountvault.NewSecret("written during the refresh")
			n.UpdatedAt = time.Time{}
			if err := stores[0].CompareAndSwap(ctx, old, n); err != nil {
				t.Errorf("the concurrent write: %v", err)
			}
		})
	})
	cctx := context.WithValue(ctx, oauth2.HTTPClient, &hc)
	src, err := oauth2store.New(cctx, stores[1], srv.cfg, provider, subject, oauth2store.WithCounters(&c))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	newest, _ := srv.newest()
	if tok.AccessToken != newest.access || !holds(find(t, stores[0]), newest) {
		t.Error("the refreshed pair was not written over the changed row")
	}
	if s := c.Snapshot(); s.CASConflicts != 1 || s.Refreshes != 1 {
		t.Errorf("counters %+v, want one conflict and one refresh", s)
	}
}

// srvClient returns an HTTP client that calls before ahead of every
// request.
func srvClient(before func()) *http.Client {
	return &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		before()
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSingleFlight checks that concurrent callers in one process, each
// with its own Source over the same store, share one read and one
// refresh: none of them finds the lease held by another.
func TestSingleFlight(t *testing.T) {
	_, stores := replicas(t, "sqlite")
	srv := newAuthServer(t, time.Hour)
	link(t, stores[0], srv.login(t), true)
	var c oauth2store.Counters
	start := make(chan struct{})
	// The token request waits until every caller has asked, so that all
	// of them are under way at once.
	var asked sync.WaitGroup
	const callers = 16
	asked.Add(callers)
	hctx := context.WithValue(ctx, oauth2.HTTPClient, srvClient(func() { asked.Wait() }))
	var wg sync.WaitGroup
	toks := make([]*oauth2.Token, callers)
	errs := make([]error, callers)
	for i := range callers {
		src, err := oauth2store.New(hctx, stores[0], srv.cfg, provider, subject, oauth2store.WithCounters(&c))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			done := make(chan struct{})
			go func() { toks[i], errs[i] = src.Token(); close(done) }()
			time.Sleep(50 * time.Millisecond) // the caller is waiting in Token by now
			asked.Done()
			<-done
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		if toks[i].AccessToken != toks[0].AccessToken {
			t.Errorf("caller %d got another token than caller 0", i)
		}
	}
	if s := c.Snapshot(); s.Flights != 1 || s.Refreshes != 1 || s.LeaseWaits != 0 {
		t.Errorf("counters %+v, want one flight, one refresh, no wait for the lease", s)
	}
}

// TestReadsAgainUnderLease checks that a caller that found the token
// expired, and then gets the lease after another replica refreshed and
// released it, uses the stored token instead of refreshing again.
func TestReadsAgainUnderLease(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		_, stores := replicas(t, env.Name)
		srv := newAuthServer(t, time.Hour)
		old := link(t, stores[0], srv.login(t), true)
		var c oauth2store.Counters
		var once sync.Once
		other := func() { // another replica's whole refresh, between the read and the lease
			once.Do(func() {
				tok, err := srv.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: old.RefreshToken.Reveal()}).Token()
				if err != nil {
					t.Errorf("refresh: %v", err)
					return
				}
				exp := tok.Expiry.Truncate(time.Second)
				n := old
				n.AccessToken, n.RefreshToken, n.AccessTokenExpiresAt = accountvault.NewSecret(tok.AccessToken), accountvault.NewSecret(tok.RefreshToken), &exp
				n.UpdatedAt = time.Time{}
				if err := stores[0].CompareAndSwap(ctx, old, n); err != nil {
					t.Errorf("CompareAndSwap: %v", err)
				}
			})
		}
		tok, err := newSource(t, stores[1], srv.cfg, oauth2store.WithCounters(&c), oauth2store.WithBeforeLease(other)).Token()
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		newest, _ := srv.newest()
		if tok.AccessToken != newest.access {
			t.Error("Token did not return the other replica's token")
		}
		if _, presents, failures := srv.stats(); presents[0] != 1 || len(presents) != 1 || len(failures) != 0 {
			t.Errorf("refreshes by generation %v, refused %v: want the other replica's only", presents, failures)
		}
		if s := c.Snapshot(); s.Refreshes != 0 || s.UnderLease != 1 {
			t.Errorf("counters %+v, want no refresh and one token found under the lease", s)
		}
	})
}
