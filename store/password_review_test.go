package store_test

// Adversarial review of WithoutPasswordUpgrade (af86c7a..7007688): a
// login-path attacker must not learn whether a user exists, or what kind
// of hash they have, from a login's time.

import (
	"slices"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/internal/kdftrace"
	"github.com/accountvault/accountvault/store"
)

// TestReviewFailedLoginWorkTellsBetterAuthUsers counts the key derivations
// of failed logins under WithoutPasswordUpgrade. An unknown user costs one
// argon2id under the policy; a user holding better-auth's scrypt hash
// costs that scrypt (32 MiB, N=16384, r=16) and then the same argon2id.
// During the transition the option is for, every user better-auth
// created has such a hash and keeps it (the option exists so that no
// login replaces it), so a wrong password tells, by its time, every
// existing better-auth user from a non-existent one, for as long as the
// transition lasts. (The hasher's "at least the policy's work" rule was
// there before this change; with upgrades on, the set of users it exposes
// shrinks at each login, under the option it does not.) Equal work for
// all three would remove the oracle.
func TestReviewFailedLoginWorkTellsBetterAuthUsers(t *testing.T) {
	env := avtest.New(t, "sqlite")
	s := newStore(t, env, genKeyring(t), store.WithoutPasswordUpgrade())
	ba := betterAuthPasswords(t, "sqlite-plain")[0]
	mustUpsert(t, s, accountvault.Account{ID: "cred-sc", UserID: "sc", ProviderID: accountvault.ProviderCredential,
		AccountID: "sc", Password: accountvault.NewSecret(ba.Password.Stored)})
	if err := s.SetPassword(ctx, "alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}

	rec := &kdftrace.Recorder{}
	hook := rec.Hook()
	if !kdftrace.Install(hook) {
		t.Fatal("another test is watching key derivations")
	}
	t.Cleanup(func() { kdftrace.Remove(hook) })
	work := func(user string) []kdftrace.Call {
		rec.Reset()
		verify(t, s, user, "wrong password", false)
		return rec.Calls()
	}
	unknown := work("nobody")
	for _, user := range []string{"sc", "alice"} {
		if got := work(user); !slices.Equal(got, unknown) {
			t.Errorf("a failed login as %s (an existing user) derives %+v; an unknown user %+v: the time tells them apart", user, got, unknown)
		}
	}
}
