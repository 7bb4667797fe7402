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

// kekOf returns the immutable primitive of k's current keys: what a store
// seals and opens with.
func kekOf(tb testing.TB, k *keyring.Keyring) *keyring.KEK {
	tb.Helper()
	kek, err := k.KEK()
	if err != nil {
		tb.Fatalf("KEK: %v", err)
	}
	return kek
}

// reload makes s use k's current keys.
func reload(tb testing.TB, s *store.Store, k *keyring.Keyring) {
	tb.Helper()
	if err := s.Reload(kekOf(tb, k)); err != nil {
		tb.Fatalf("Reload: %v", err)
	}
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

// newStore returns a store over env with k's current keys; its password
// hasher uses testPolicy unless opts set another.
func newStore(t testing.TB, env *avtest.Env, k *keyring.Keyring, opts ...store.Option) *store.Store {
	t.Helper()
	opts = append([]store.Option{store.WithPasswordHasher(testHasher(t))}, opts...)
	s, err := store.New(env.Backend, kekOf(t, k), opts...)
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
		AccessToken:          accountvault.NewSecret("at-" + id),
		RefreshToken:         accountvault.NewSecret("rt-" + id),
		IDToken:              accountvault.NewSecret("it-" + id),
		AccessTokenExpiresAt: &exp,
		Scope:                "openid email",
	}
}

func mustUpsert(t testing.TB, s *store.Store, a accountvault.Account) accountvault.Account {
	t.Helper()
	got, err := s.Upsert(ctx, a)
	if err != nil {
		t.Fatalf("Upsert(%s): %v", a.ID, err)
	}
	return got
}

func mustFind(t testing.TB, s *store.Store, provider, acct string) accountvault.Account {
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
		if !f.got.Equal(f.want) {
			t.Errorf("row %s: %s differs (len %d, want len %d)", want.ID, f.name, f.got.Len(), f.want.Len())
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

// secret returns a Secret holding s.
func secret(s string) accountvault.Secret { return accountvault.NewSecret(s) }

// is reports whether v holds exactly s.
func is(v accountvault.Secret, s string) bool { return v.Equal(accountvault.NewSecret(s)) }

// admin returns the operator's side of s.
func admin(s *store.Store) *store.Admin { return store.NewAdmin(s) }

// rawUpsert writes r straight through the backend, as a database writer
// could: its token fields are whatever bytes r holds, sealed or not.
func rawUpsert(t testing.TB, b accountvault.Backend, r accountvault.SealedRow) accountvault.SealedRow {
	t.Helper()
	got, err := b.Upsert(ctx, r)
	if err != nil {
		t.Fatalf("backend Upsert(%s): %v", r.ID, err)
	}
	return got
}

// eachAdopted runs fn as a subtest for each real backend, on a table
// created in better-auth's shape holding rows and adopted by the backend's
// Adopt: a table being adopted.
func eachAdopted(t *testing.T, rows []avtest.Legacy, fn func(t *testing.T, env *avtest.Env)) {
	t.Helper()
	for _, kind := range avtest.Kinds {
		t.Run(kind, func(t *testing.T) { fn(t, avtest.NewAdopted(t, kind, rows...)) })
	}
}
