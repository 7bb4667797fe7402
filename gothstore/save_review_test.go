package gothstore_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/markbates/goth"
	"github.com/markbates/goth/providers/tiktok"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/postgres"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/gothstore"
	"github.com/accountvault/accountvault/internal/avtest"
)

// findHook runs once, inside the first FindByProvider of the backend it is
// installed in, after the real query returned: what another replica does
// between a Save's read and its write.
type findHook struct {
	once sync.Once
	fn   func()
}

func (h *findHook) run() { h.once.Do(h.fn) }

type hookedSQLite struct {
	*sqlite.Backend
	h *findHook
}

func (b hookedSQLite) FindByProvider(ctx context.Context, p, a string) (accountvault.SealedRow, error) {
	r, err := b.Backend.FindByProvider(ctx, p, a)
	b.h.run()
	return r, err
}

type hookedPostgres struct {
	*postgres.Backend
	h *findHook
}

func (b hookedPostgres) FindByProvider(ctx context.Context, p, a string) (accountvault.SealedRow, error) {
	r, err := b.Backend.FindByProvider(ctx, p, a)
	b.h.run()
	return r, err
}

func hooked(t *testing.T, b accountvault.Backend, h *findHook) accountvault.Backend {
	switch b := b.(type) {
	case *sqlite.Backend:
		return hookedSQLite{b, h}
	case *postgres.Backend:
		return hookedPostgres{b, h}
	}
	t.Fatalf("unknown backend %T", b)
	return nil
}

// TestReviewSaveFirstLinkRace: two first links of one identity to two
// users at once. Save's first link is an Upsert, which updates the row
// another Save inserted between this Save's FindByProvider and its write,
// user id included: the identity silently moves to the second user, and
// the first user's Save reported success. The second Save must fail with
// ErrLinkedToOtherUser and leave the first link as it is.
func TestReviewSaveFirstLinkRace(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		kek := newKEK(t)
		victimStore := storeOver(t, env.Backend, kek)
		victim := goth.User{Provider: "github", UserID: "99", AccessToken: "at-victim", RefreshToken: "rt-victim"}
		var victimRow accountvault.Account
		var victimErr error
		h := &findHook{fn: func() {
			victimRow, victimErr = gothstore.Save(ctx, victimStore, "victim", victim)
		}}
		attackerStore := storeOver(t, hooked(t, env.Backend, h), kek)
		u := victim
		u.AccessToken, u.RefreshToken = "at-attacker", "rt-attacker"
		_, err := gothstore.Save(ctx, attackerStore, "attacker", u)
		if victimErr != nil {
			t.Fatalf("victim's Save: %v", victimErr)
		}
		got := find(t, victimStore, "github", "99")
		if got.UserID != "victim" {
			t.Errorf("identity linked to the victim is now linked to %q (the victim's Save returned success)", got.UserID)
		}
		if !errors.Is(err, gothstore.ErrLinkedToOtherUser) {
			t.Errorf("second first-link Save: error %v, want ErrLinkedToOtherUser", err)
		}
		if got.UserID == "victim" {
			sameAccount(t, "victim's row", got, victimRow)
		}
	})
}

// TestReviewRefreshErrorURLLeak: a goth provider that sends the refresh
// token in the query string (tiktok) fails with a *url.Error whose message
// holds the request URL, the refresh token percent-encoded in it. The
// RefreshError's message must not carry the token in any form.
func TestReviewRefreshErrorURLLeak(t *testing.T) {
	env := avtest.New(t, "sqlite")
	s := newStore(t, env)
	// A closed port: a real connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := tiktok.New("client-key", "client-secret", "http://app.test/callback")
	p.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	const rt = "1//0gRefresh+Secret/Token=="
	u := goth.User{Provider: p.Name(), UserID: "tt-1", AccessToken: "at-expired", RefreshToken: rt,
		ExpiresAt: time.Now().Add(-time.Hour)}
	if _, err := gothstore.Save(ctx, s, "user_1", u); err != nil {
		t.Fatalf("Save: %v", err)
	}
	_, err = gothstore.Refresh(ctx, s, p, "tt-1")
	if err == nil {
		t.Fatal("Refresh: no error, want a RefreshError")
	}
	// The message is checked for the token before anything prints it.
	msg := err.Error()
	for _, form := range []string{rt, url.QueryEscape(rt), url.PathEscape(rt), "Refresh%2BSecret", "Refresh+Secret"} {
		if strings.Contains(msg, form) {
			t.Fatalf("Refresh's error (%T) holds the refresh token (form %d)", err, len(form)) // and is not printed
		}
	}
	var re *gothstore.RefreshError
	if !errors.As(err, &re) {
		t.Fatalf("Refresh: error %v, want a RefreshError", err)
	}
	if !strings.Contains(msg, "connection refused") || !strings.Contains(msg, "tiktok.com") {
		t.Errorf("RefreshError message lost the cause: %q", msg)
	}
}
