package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/password"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

var ctx = context.Background()

func genKeyring(t testing.TB) *keyring.Keyring {
	t.Helper()
	k, err := keyring.Generate()
	if err != nil {
		t.Fatalf("keyring.Generate: %v", err)
	}
	return k
}

// testPolicy is a cheap argon2id policy: tests that are not about password
// cost use it, so that the race detector does not make them crawl.
var testPolicy = password.Policy{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func testHasher(t testing.TB, opts ...password.Option) *password.Hasher {
	t.Helper()
	h, err := password.New(append([]password.Option{password.WithPolicy(testPolicy)}, opts...)...)
	if err != nil {
		t.Fatalf("password.New: %v", err)
	}
	return h
}

// newStore returns a store over env; its password hasher uses testPolicy
// unless opts set another.
func newStore(t testing.TB, env *avtest.Env, k *keyring.Keyring, opts ...store.Option) *store.Store {
	t.Helper()
	opts = append([]store.Option{store.WithPasswordHasher(testHasher(t))}, opts...)
	s, err := store.New(env.Backend, k, opts...)
	if err != nil {
		t.Fatalf("store.New: %v", err)
	}
	return s
}

// account returns a linked account with distinct tokens.
func account(id, user, provider, acct string) accountvault.Account {
	exp := time.Unix(1_900_000_000, 0).UTC()
	return accountvault.Account{
		ID: id, UserID: user, ProviderID: provider, AccountID: acct,
		AccessToken:          accountvault.Secret("at-" + id),
		RefreshToken:         accountvault.Secret("rt-" + id),
		IDToken:              accountvault.Secret("it-" + id),
		AccessTokenExpiresAt: &exp,
		Scope:                "openid email",
	}
}

func mustUpsert(t testing.TB, s accountvault.Backend, a accountvault.Account) accountvault.Account {
	t.Helper()
	got, err := s.Upsert(ctx, a)
	if err != nil {
		t.Fatalf("Upsert(%s): %v", a.ID, err)
	}
	return got
}

func mustFind(t testing.TB, s accountvault.Backend, provider, acct string) accountvault.Account {
	t.Helper()
	got, err := s.FindByProvider(ctx, provider, acct)
	if err != nil {
		t.Fatalf("FindByProvider(%s, %s): %v", provider, acct, err)
	}
	return got
}

// sameTokens compares secrets without printing them.
func sameTokens(t testing.TB, got, want accountvault.Account) {
	t.Helper()
	for _, f := range []struct {
		name      string
		got, want accountvault.Secret
	}{
		{"AccessToken", got.AccessToken, want.AccessToken},
		{"RefreshToken", got.RefreshToken, want.RefreshToken},
		{"IDToken", got.IDToken, want.IDToken},
		{"Password", got.Password, want.Password},
	} {
		if f.got != f.want {
			t.Errorf("row %s: %s differs (len %d, want len %d)", want.ID, f.name, len(f.got), len(f.want))
		}
	}
}

// wantErr fails t unless err matches every target.
func wantErr(t testing.TB, what string, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("%s: error %q does not match %v", what, err, target)
		}
	}
}

// noSecretIn fails t if any of the secrets appears in s.
func noSecretIn(t testing.TB, what, s string, secrets ...string) {
	t.Helper()
	for i, sec := range secrets {
		if sec != "" && bytes.Contains([]byte(s), []byte(sec)) {
			t.Errorf("%s contains secret #%d", what, i)
		}
	}
}

func errString(err error) string { return fmt.Sprint(err) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }
