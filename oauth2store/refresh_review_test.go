package oauth2store_test

// Adversarial review of the refresh protocol: each test here failed on the
// change as merged (see the report of the h2/review-oauth branch).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/oauth2store"
	"github.com/accountvault/accountvault/store"
)

// TestLateLeaseKeepsRefreshedToken: a Source that gets the lease late in
// its flight (other replicas held it one after another, each stalling)
// must either give up before it asks the token endpoint or store what it
// answered. Before the fix, the token request and the store shared the
// flight's 3×ttl budget: a response that arrived as that budget ran out
// was dropped by a CompareAndSwap failing with "context deadline
// exceeded", after the provider had rotated the refresh token: the grant
// was lost.
func TestLateLeaseKeepsRefreshedToken(t *testing.T) {
	for _, until := range []time.Duration{2700 * time.Millisecond, 1800 * time.Millisecond} {
		t.Run(until.String(), func(t *testing.T) { lateLease(t, until) })
	}
}

func lateLease(t *testing.T, until time.Duration) {
	_, stores := replicas(t, "sqlite")
	srv := newAuthServer(t, time.Hour)
	link(t, stores[0], srv.login(t), true)
	const ttl = time.Second
	name := oauth2store.LeaseName(provider, subject)
	start := time.Now()
	// Other replicas take the lease over as soon as it lapses, until
	// until into the flight; each "crashes" holding it.
	others := func() {
		left := until - time.Since(start)
		if left <= 0 {
			return
		}
		var held *store.LeaseHeldError
		if _, err := stores[0].AcquireLease(ctx, name, min(left, ttl)); err != nil && !errors.As(err, &held) {
			t.Errorf("the other replica's AcquireLease: %v", err)
		}
	}
	// The token endpoint's answer arrives just as the request's deadline
	// passes (the provider has rotated the refresh token by then).
	hc := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r.WithContext(context.WithoutCancel(r.Context())))
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		<-r.Context().Done()
		return resp, nil
	})}
	src, err := oauth2store.New(context.WithValue(ctx, oauth2.HTTPClient, hc), stores[1], srv.cfg, provider, subject,
		oauth2store.WithLeaseTTL(ttl), oauth2store.WithPollInterval(10*time.Millisecond), oauth2store.WithBeforeLease(others))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Token()
	newest, g := srv.newest()
	if g == 0 {
		// The Source gave up waiting before it took the lease: nothing
		// was spent.
		if err == nil {
			t.Fatal("Token returned a token without a refresh")
		}
		return
	}
	if !holds(find(t, stores[0]), newest) {
		t.Errorf("the row does not hold the pair the server issued (Token error: %v): the rotated refresh token was dropped", err)
	}
	if err == nil && tok.AccessToken != newest.access {
		t.Error("Token did not return the refreshed token")
	}
}

// leaseKey is store's metadata name of the lease on name.
func leaseKey(name string) string {
	h := sha256.Sum256([]byte(name))
	return "lease/" + base64.RawURLEncoding.EncodeToString(h[:])
}

// TestForgedLeaseDoesNotStopRefresh: a database writer (or a replica whose
// clock was years ahead when it crashed holding the lease) leaves a lease
// record that expires in 2200. SECURITY.md says a forged lease makes
// replicas "wait up to a lease's life"; before the fix every Token call of
// the account failed after 3×ttl, for ever.
func TestForgedLeaseDoesNotStopRefresh(t *testing.T) {
	avtest.Each(t, func(t *testing.T, each *avtest.Env) {
		env, stores := replicas(t, each.Name)
		srv := newAuthServer(t, time.Hour)
		link(t, stores[0], srv.login(t), true)
		meta, ok := env.Backend.(accountvault.Metadata)
		if !ok {
			t.Fatal("the backend keeps no metadata")
		}
		forged := fmt.Appendf(nil, "lease1 00112233445566778899aabbccddeeff %d", time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		if err := meta.SwapMeta(ctx, leaseKey(oauth2store.LeaseName(provider, subject)), nil, forged); err != nil {
			t.Fatal(err)
		}
		const ttl = 300 * time.Millisecond
		src := newSource(t, stores[1], srv.cfg, oauth2store.WithLeaseTTL(ttl), oauth2store.WithPollInterval(10*time.Millisecond))
		tok, err := src.Token()
		if err != nil {
			t.Fatalf("Token with a forged lease record: %v, want a refresh after at most a lease's life", err)
		}
		newest, _ := srv.newest()
		if tok.AccessToken != newest.access || !holds(find(t, stores[0]), newest) {
			t.Error("the refresh was not returned and stored")
		}
	})
}

// TestTokenEndpointBodyNotInError: a token endpoint (or a proxy in front
// of it) that answers an error page echoing the request puts the refresh
// token in *oauth2.RetrieveError's text. "No error holds a token"
// (TokenContext's doc) did not hold: the error was wrapped with %w.
func TestTokenEndpointBodyNotInError(t *testing.T) {
	_, stores := replicas(t, "sqlite")
	srv := newAuthServer(t, time.Hour)
	old := link(t, stores[0], srv.login(t), true)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "<h1>502 Bad Gateway</h1><pre>%s</pre>", body)
	}))
	t.Cleanup(echo.Close)
	cfg := *srv.cfg
	cfg.Endpoint.TokenURL = echo.URL + "/token"
	_, err := newSource(t, stores[1], &cfg).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("Token: %v, want an *oauth2.RetrieveError", err)
	}
	if strings.Contains(err.Error(), old.RefreshToken.Reveal()) {
		t.Error("the error's text contains the refresh token")
	}
}

// TestNonRotatingRefreshNotOverwrittenByOlder: with a provider that keeps
// one refresh token (Google), a holder paused (GC, SIGSTOP) after its
// token request answered, past its lease, comes back after another
// replica refreshed with the same refresh token and stored a newer access
// token. The "row still holds the spent refresh token: overwrite" rule
// assumed the refresh token was spent; it was not, and the paused holder
// wrote its older access token over the newer one (and returned it).
func TestNonRotatingRefreshNotOverwrittenByOlder(t *testing.T) {
	_, stores := replicas(t, "sqlite")
	srv := newAuthServer(t, time.Hour)
	srv.stripRefresh = true
	first := srv.login(t).RefreshToken
	link(t, stores[0], &oauth2.Token{AccessToken: "expired", RefreshToken: first}, true)
	// A provider with one refresh token for the grant: the client always
	// presents the first one; behind it, fosite's current one.
	var mu sync.Mutex
	current := first
	stable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if err := r.ParseForm(); err != nil {
			http.Error(w, "form", http.StatusBadRequest)
			return
		}
		if r.PostForm.Get("refresh_token") == first {
			r.PostForm.Set("refresh_token", current)
			r.Form.Set("refresh_token", current)
		}
		srv.token(w, r)
		current = srv.newestRefresh()
	}))
	t.Cleanup(stable.Close)
	cfg := *srv.cfg
	cfg.Endpoint.TokenURL = stable.URL + "/token"

	const ttl = 400 * time.Millisecond
	answered, resume := make(chan struct{}), make(chan struct{})
	paused := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		close(answered)
		<-resume // the process is stopped here
		return resp, nil
	})}
	a, err := oauth2store.New(context.WithValue(ctx, oauth2.HTTPClient, paused), stores[1], &cfg, provider, subject, oauth2store.WithLeaseTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	ch := make(chan result, 1)
	go func() { tok, err := a.Token(); ch <- result{tok, err} }()
	<-answered
	time.Sleep(ttl + 100*time.Millisecond) // the paused holder's lease lapses
	b := newSource(t, stores[0], &cfg, oauth2store.WithLeaseTTL(ttl))
	tb, err := b.Token()
	if err != nil {
		close(resume)
		t.Fatalf("the other replica's Token: %v", err)
	}
	close(resume)
	r := <-ch
	if r.err != nil {
		t.Fatalf("the paused holder's Token: %v", r.err)
	}
	if row := find(t, stores[0]); row.AccessToken.Reveal() != tb.AccessToken {
		t.Errorf("the row went back from generation %d to %d", srv.generation(tb.AccessToken), srv.generation(row.AccessToken.Reveal()))
	}
	if r.tok.AccessToken != tb.AccessToken {
		t.Errorf("the paused holder returned generation %d, not the newest, %d", srv.generation(r.tok.AccessToken), srv.generation(tb.AccessToken))
	}
}

// TestCancelledCallerRefreshStored: a caller whose context ends while the
// token request is under way gets its context's error; the refresh is
// finished and stored, and the shared work does not outlive it.
func TestCancelledCallerRefreshStored(t *testing.T) {
	_, stores := replicas(t, "sqlite")
	srv := newAuthServer(t, time.Hour)
	link(t, stores[0], srv.login(t), true)
	inRequest, release := make(chan struct{}), make(chan struct{})
	hc := srvClient(func() { close(inRequest); <-release })
	hctx := context.WithValue(ctx, oauth2.HTTPClient, hc)
	src, err := oauth2store.New(hctx, stores[1], srv.cfg, provider, subject)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(hctx)
	done := make(chan error, 1)
	go func() { _, err := src.TokenContext(cctx); done <- err }()
	select {
	case <-inRequest:
	case err := <-done:
		t.Fatalf("TokenContext returned before its token request: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("TokenContext with a cancelled context: %v, want context.Canceled", err)
	}
	close(release)
	// A second caller joins the flight or reads what it stored.
	tok, err := src.Token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	newest, g := srv.newest()
	if g != 1 || tok.AccessToken != newest.access || !holds(find(t, stores[0]), newest) {
		t.Errorf("after a cancelled caller: generation %d issued; the refresh was not stored and served", g)
	}
}
