package store_test

import (
	"context"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
	"golang.org/x/text/unicode/norm"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/password"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/internal/betterauthtest"
	"github.com/accountvault/accountvault/internal/kdftrace"
	"github.com/accountvault/accountvault/store"
)

// policyPrefix is how a hash made with testPolicy begins.
const policyPrefix = "$argon2id$v=19$m=64,t=1,p=1$"

func storedHash(t *testing.T, env *avtest.Env, user string) string {
	t.Helper()
	raw, err := env.Backend.FindByProvider(ctx, accountvault.ProviderCredential, user)
	if err != nil {
		t.Fatalf("reading credential row: %v", err)
	}
	return raw.Password.Reveal()
}

func verify(t *testing.T, s *store.Store, user, pw string, want bool) {
	t.Helper()
	ok, err := s.VerifyPassword(ctx, user, pw)
	if err != nil || ok != want {
		t.Fatalf("VerifyPassword(%s) = %v, %v; want %v", user, ok, err, want)
	}
}

func TestPasswords(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env, genKeyring(t))
		if err := s.SetPassword(ctx, "alice", "correct horse"); err != nil {
			t.Fatal(err)
		}
		h := storedHash(t, env, "alice")
		if !strings.HasPrefix(h, policyPrefix) || strings.Contains(h, "correct horse") {
			t.Fatalf("stored password is not a policy argon2id hash")
		}
		verify(t, s, "alice", "correct horse", true)
		verify(t, s, "alice", "correct horse ", false)
		// NFKC: a full-width form of the same password matches.
		verify(t, s, "alice", "ｃｏｒｒｅｃｔ horse", true)

		// Changing the password keeps the row and replaces the hash.
		first, err := env.Backend.FindByProvider(ctx, accountvault.ProviderCredential, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetPassword(ctx, "alice", "battery staple"); err != nil {
			t.Fatal(err)
		}
		again, err := env.Backend.FindByProvider(ctx, accountvault.ProviderCredential, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != first.ID || again.AccountID != "alice" {
			t.Fatalf("SetPassword made a new row")
		}
		verify(t, s, "alice", "correct horse", false)
		verify(t, s, "alice", "battery staple", true)

		// Unknown user, user without a credential row, credential row
		// without a password: false, not an error.
		mustUpsert(t, s, account("gh", "bob", "github", "bob-gh"))
		mustUpsert(t, s, accountvault.Account{ID: "c", UserID: "carol", ProviderID: accountvault.ProviderCredential, AccountID: "carol"})
		for _, u := range []string{"nobody", "bob", "carol"} {
			verify(t, s, u, "anything", false)
		}

		// Invalid passwords are errors, whoever the user.
		for _, u := range []string{"alice", "nobody"} {
			if _, err := s.VerifyPassword(ctx, u, ""); !errorsIs(err, password.ErrPasswordEmpty) {
				t.Fatalf("empty password for %s: %v", u, err)
			}
		}
		// A cancelled login returns the context's error.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.VerifyPassword(cctx, "alice", "battery staple"); !errorsIs(err, context.Canceled) {
			t.Fatalf("cancelled VerifyPassword: %v", err)
		}
	})
}

// betterAuthScrypt hashes like better-auth's default: scrypt N=16384,
// r=16, p=1, dkLen=64, the hex salt text as salt, NFKC password.
func betterAuthScrypt(t *testing.T, pw, saltHex string) string {
	t.Helper()
	key, err := scrypt.Key([]byte(norm.NFKC.String(pw)), []byte(saltHex), 16384, 16, 1, 64)
	if err != nil {
		t.Fatal(err)
	}
	return saltHex + ":" + hex.EncodeToString(key)
}

// TestPasswordUpgrade: weaker argon2id, better-auth scrypt and bcrypt hashes
// verify once and are argon2id with the policy afterwards.
func TestPasswordUpgrade(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env, genKeyring(t))
		weak, err := password.New(password.WithPolicy(password.Policy{Memory: 32, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}))
		if err != nil {
			t.Fatal(err)
		}
		weakHash, err := weak.Hash(ctx, "pw-weak")
		if err != nil {
			t.Fatal(err)
		}
		bc, err := bcrypt.GenerateFromPassword([]byte("pw-bcrypt"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ user, pw, hash string }{
			{"weak", "pw-weak", weakHash},
			{"bcrypt", "pw-bcrypt", string(bc)},
			{"scrypt", "pw-scrypt", betterAuthScrypt(t, "pw-scrypt", "0123456789abcdef0123456789abcdef")},
		} {
			t.Run(c.user, func(t *testing.T) {
				mustUpsert(t, s, accountvault.Account{ID: "cred-" + c.user, UserID: c.user, ProviderID: accountvault.ProviderCredential,
					AccountID: c.user, Password: accountvault.NewSecret(c.hash)})
				verify(t, s, c.user, "wrong", false)
				if storedHash(t, env, c.user) != c.hash {
					t.Fatal("a failed verify changed the hash")
				}
				verify(t, s, c.user, c.pw, true)
				if h := storedHash(t, env, c.user); !strings.HasPrefix(h, policyPrefix) {
					t.Fatalf("hash not upgraded to the policy")
				}
				verify(t, s, c.user, c.pw, true)
				verify(t, s, c.user, "wrong", false)
			})
		}
	})
}

// interleaved runs after once, right after the first FindByProvider of a
// credential row returns: a concurrent request landing between the read
// and the write of a password upgrade.
type interleaved struct {
	accountvault.Backend
	once  sync.Once
	after func()
}

func (b *interleaved) FindByProvider(ctx context.Context, provider, acct string) (accountvault.SealedRow, error) {
	a, err := b.Backend.FindByProvider(ctx, provider, acct)
	if provider == accountvault.ProviderCredential {
		b.once.Do(b.after)
	}
	return a, err
}

// TestPasswordUpgradeLosesToConcurrentChange: a password changed between
// the verify and the upgrade write is never overwritten.
func TestPasswordUpgradeLosesToConcurrentChange(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		plain := newStore(t, env, k)
		bc, err := bcrypt.GenerateFromPassword([]byte("old password"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		mustUpsert(t, plain, accountvault.Account{ID: "cred", UserID: "dave", ProviderID: accountvault.ProviderCredential,
			AccountID: "dave", Password: accountvault.SecretBytes(bc)})
		ib := &interleaved{Backend: env.Backend, after: func() {
			if err := plain.SetPassword(ctx, "dave", "new password"); err != nil {
				t.Errorf("concurrent SetPassword: %v", err)
			}
		}}
		s, err := store.New(ib, kekOf(t, k), store.WithPasswordHasher(testHasher(t)), store.WithTable(env.Table))
		if err != nil {
			t.Fatal(err)
		}
		// The login with the old password succeeds (it matched what was
		// read), but its upgrade must not overwrite the new password.
		verify(t, s, "dave", "old password", true)
		verify(t, plain, "dave", "new password", true)
		verify(t, plain, "dave", "old password", false)
	})
}

// failingCAS makes every CompareAndSwap fail with a real backend error (a
// cancelled context).
type failingCAS struct{ accountvault.Backend }

func (b failingCAS) CompareAndSwap(_ context.Context, old, new accountvault.SealedRow) error {
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	return b.Backend.CompareAndSwap(cctx, old, new)
}

// TestPasswordUpgradeFailureKeepsLogin: a failed upgrade write does not fail
// the login, and the old hash stays usable.
func TestPasswordUpgradeFailureKeepsLogin(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		bc, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		mustUpsert(t, newStore(t, env, k), accountvault.Account{ID: "cred", UserID: "erin", ProviderID: accountvault.ProviderCredential,
			AccountID: "erin", Password: accountvault.SecretBytes(bc)})
		s, err := store.New(failingCAS{env.Backend}, kekOf(t, k), store.WithPasswordHasher(testHasher(t)), store.WithTable(env.Table))
		if err != nil {
			t.Fatal(err)
		}
		verify(t, s, "erin", "pw", true)
		if storedHash(t, env, "erin") != string(bc) {
			t.Fatal("the hash changed although the upgrade write failed")
		}
	})
}

// TestUnknownUserCostsTheSame records key derivations, with their
// parameters, through the hashing hook. A failed login for an unknown
// user, a user without a credential row, a row without a password, and a
// wrong password for a user with a policy hash each do exactly one
// argon2id derivation with the policy's parameters. A wrong password for a
// user with a cheaper hash (argon2id with weaker parameters, better-auth
// scrypt, bcrypt, bcrypt given more than its 72 bytes) does that hash's
// own derivation and then exactly that one, so that no failed login costs
// less than an unknown user's.
func TestUnknownUserCostsTheSame(t *testing.T) {
	env := avtest.New(t, "sqlite")
	s := newStore(t, env, genKeyring(t))
	if err := s.SetPassword(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, s, account("gh", "bob", "github", "bob-gh"))
	mustUpsert(t, s, accountvault.Account{ID: "c", UserID: "carol", ProviderID: accountvault.ProviderCredential, AccountID: "carol"})
	weakPolicy := password.Policy{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	weak, err := password.New(password.WithPolicy(weakPolicy))
	if err != nil {
		t.Fatal(err)
	}
	weakHash, err := weak.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for user, hash := range map[string]string{"weak": weakHash, "bc": string(bc), "sc": betterAuthScrypt(t, "pw", "0123456789abcdef0123456789abcdef")} {
		mustUpsert(t, s, accountvault.Account{ID: "cred-" + user, UserID: user, ProviderID: accountvault.ProviderCredential,
			AccountID: user, Password: accountvault.NewSecret(hash)})
	}

	rec := &kdftrace.Recorder{}
	hook := rec.Hook()
	if !kdftrace.Install(hook) {
		t.Fatal("another test is watching key derivations")
	}
	t.Cleanup(func() { kdftrace.Remove(hook) })
	argon2id := func(p password.Policy) kdftrace.Call {
		return kdftrace.Call{Alg: "argon2id", Memory: p.Memory, Time: p.Time, Threads: p.Threads, KeyLen: p.KeyLen, SaltLen: int(p.SaltLen)}
	}
	policy := argon2id(testPolicy)
	for _, c := range []struct {
		user, pw string
		own      []kdftrace.Call
	}{
		{"alice", "wrong password", nil},
		{"nobody", "wrong password", nil},
		{"bob", "wrong password", nil},
		{"carol", "wrong password", nil},
		{"weak", "wrong password", []kdftrace.Call{argon2id(weakPolicy)}},
		{"sc", "wrong password", []kdftrace.Call{{Alg: "scrypt", N: 16384, R: 16, P: 1, KeyLen: 64, SaltLen: 32}}},
		{"bc", "wrong password", []kdftrace.Call{{Alg: "bcrypt", Cost: bcrypt.MinCost}}},
		{"bc", "pw" + strings.Repeat("!", 80), []kdftrace.Call{{Alg: "bcrypt", Cost: bcrypt.MinCost}}},
		{"nobody", "pw" + strings.Repeat("!", 80), nil},
	} {
		rec.Reset()
		verify(t, s, c.user, c.pw, false)
		if got, want := rec.Calls(), append(c.own, policy); !slices.Equal(got, want) {
			t.Errorf("login as %s (password of %d bytes): derivations %+v, want %+v", c.user, len(c.pw), got, want)
		}
	}
}

// TestLongPasswordForBcryptUser: a password longer than bcrypt's 72 bytes
// is a wrong password for a bcrypt user, as for an unknown user, not an
// error that would tell the two apart.
func TestLongPasswordForBcryptUser(t *testing.T) {
	env := avtest.New(t, "sqlite")
	s := newStore(t, env, genKeyring(t))
	bc, err := bcrypt.GenerateFromPassword([]byte("short"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, s, accountvault.Account{ID: "cred", UserID: "bc", ProviderID: accountvault.ProviderCredential,
		AccountID: "bc", Password: accountvault.SecretBytes(bc)})
	long := strings.Repeat("p", 100)
	verify(t, s, "bc", long, false)
	verify(t, s, "nobody", long, false)
	verify(t, s, "bc", "short", true)
}

// betterAuthPasswords returns the credential rows of the better-auth
// fixture database of that name: each holds a scrypt hash that better-auth
// 1.7.25 wrote at sign-up, and the manifest has its password.
func betterAuthPasswords(t *testing.T, fixture string) []betterauthtest.Account {
	t.Helper()
	var out []betterauthtest.Account
	for _, a := range betterauthtest.Load(t).Fixture(t, fixture).Accounts {
		if a.Password != nil {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		t.Fatalf("fixture %s has no password", fixture)
	}
	return out
}

// TestWithoutPasswordUpgrade: on a table adopted from better-auth's shape,
// holding the scrypt hashes better-auth wrote (and a weaker argon2id and a
// bcrypt hash), a store with WithoutPasswordUpgrade verifies every one,
// right and wrong passwords alike, and leaves each stored hash byte for
// byte as it was, as the backend and a raw SQL reader (better-auth) see
// it. SetPassword still writes a policy hash. A store without the option
// then upgrades the hashes at the next successful login, as before.
func TestWithoutPasswordUpgrade(t *testing.T) {
	for _, kind := range avtest.Kinds {
		t.Run(kind, func(t *testing.T) {
			type cred struct{ id, user, pw, hash string }
			var creds []cred
			for _, a := range betterAuthPasswords(t, kind+"-plain") {
				creds = append(creds, cred{a.ID, a.UserID, a.Password.Plaintext, a.Password.Stored})
			}
			weak, err := password.New(password.WithPolicy(password.Policy{Memory: 32, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}))
			if err != nil {
				t.Fatal(err)
			}
			weakHash, err := weak.Hash(ctx, "pw-weak")
			if err != nil {
				t.Fatal(err)
			}
			bc, err := bcrypt.GenerateFromPassword([]byte("pw-bcrypt"), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			creds = append(creds, cred{"cred-weak", "weak", "pw-weak", weakHash}, cred{"cred-bcrypt", "bcrypt", "pw-bcrypt", string(bc)})
			var rows []avtest.Legacy
			for _, c := range creds {
				rows = append(rows, avtest.Legacy{ID: c.id, UserID: c.user, ProviderID: accountvault.ProviderCredential,
					AccountID: c.user, Password: c.hash})
			}
			env := avtest.NewAdopted(t, kind, rows...)
			k := genKeyring(t)

			s := newStore(t, env, k, store.WithoutPasswordUpgrade())
			unchanged := func(c cred) {
				t.Helper()
				if storedHash(t, env, c.user) != c.hash {
					t.Fatalf("%s: the backend reads a different hash after the logins", c.id)
				}
				if string(env.Raw(t, c.id, "password")) != c.hash {
					t.Fatalf("%s: the password column's bytes changed", c.id)
				}
			}
			for _, c := range creds {
				verify(t, s, c.user, "wrong", false)
				verify(t, s, c.user, c.pw, true)
				verify(t, s, c.user, c.pw, true)
				unchanged(c)
			}

			// SetPassword still writes argon2id under the policy (which
			// better-auth can no longer verify).
			if err := s.SetPassword(ctx, creds[0].user, "a new password"); err != nil {
				t.Fatal(err)
			}
			if h := storedHash(t, env, creds[0].user); !strings.HasPrefix(h, policyPrefix) {
				t.Fatal("SetPassword did not write a policy argon2id hash")
			}
			verify(t, s, creds[0].user, "a new password", true)

			// Turned off (a store without the option): the next successful
			// login upgrades each hash.
			plain := newStore(t, env, k)
			for _, c := range creds[1:] {
				verify(t, plain, c.user, "wrong", false)
				unchanged(c)
				verify(t, plain, c.user, c.pw, true)
				if h := storedHash(t, env, c.user); !strings.HasPrefix(h, policyPrefix) {
					t.Fatalf("%s: hash not upgraded once the option is off", c.id)
				}
				verify(t, plain, c.user, c.pw, true)
			}
		})
	}
}

// TestWithoutPasswordUpgradeCostsTheSame counts key derivations through
// the hashing hook under WithoutPasswordUpgrade, where better-auth's scrypt
// hashes are kept. Every login, failed or successful, of an unknown user,
// a user without a credential row or without a password, a user with a
// policy argon2id hash and a user with better-auth's scrypt hash does
// exactly one better-auth scrypt derivation and then one argon2id under
// the policy, the same sequence, dummy derivations standing in for the
// hash the user does not have: the work of a login tells none of them
// apart. Other hashes add their own derivation between the two (weaker
// argon2id, bcrypt) or replace the policy's by theirs (a stronger
// argon2id), so they still cost at least that pair. No hash is rewritten.
// With upgrades on, a successful login on a hash that would be replaced
// does its own derivation and the upgrade's Hash, as before.
func TestWithoutPasswordUpgradeCostsTheSame(t *testing.T) {
	env := avtest.New(t, "sqlite")
	k := genKeyring(t)
	s := newStore(t, env, k, store.WithoutPasswordUpgrade())
	if err := s.SetPassword(ctx, "alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, s, account("gh", "bob", "github", "bob-gh"))
	mustUpsert(t, s, accountvault.Account{ID: "c", UserID: "carol", ProviderID: accountvault.ProviderCredential, AccountID: "carol"})
	weakPolicy := password.Policy{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	weak, err := password.New(password.WithPolicy(weakPolicy))
	if err != nil {
		t.Fatal(err)
	}
	weakHash, err := weak.Hash(ctx, "pw-weak")
	if err != nil {
		t.Fatal(err)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("pw-bc"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	strongPolicy := password.Policy{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	strong, err := password.New(password.WithPolicy(strongPolicy))
	if err != nil {
		t.Fatal(err)
	}
	strongHash, err := strong.Hash(ctx, "pw-strong")
	if err != nil {
		t.Fatal(err)
	}
	ba := betterAuthPasswords(t, "sqlite-plain")[0]
	hashes := map[string]string{"weak": weakHash, "strong": strongHash, "bc": string(bc), "sc": ba.Password.Stored, "alice": storedHash(t, env, "alice")}
	for _, user := range []string{"weak", "strong", "bc", "sc"} {
		mustUpsert(t, s, accountvault.Account{ID: "cred-" + user, UserID: user, ProviderID: accountvault.ProviderCredential,
			AccountID: user, Password: accountvault.NewSecret(hashes[user])})
	}

	rec := &kdftrace.Recorder{}
	hook := rec.Hook()
	if !kdftrace.Install(hook) {
		t.Fatal("another test is watching key derivations")
	}
	t.Cleanup(func() { kdftrace.Remove(hook) })
	argon2id := func(p password.Policy) kdftrace.Call {
		return kdftrace.Call{Alg: "argon2id", Memory: p.Memory, Time: p.Time, Threads: p.Threads, KeyLen: p.KeyLen, SaltLen: int(p.SaltLen)}
	}
	policy := argon2id(testPolicy)
	scryptCall := kdftrace.Call{Alg: "scrypt", N: 16384, R: 16, P: 1, KeyLen: 64, SaltLen: 32}
	bcryptCall := kdftrace.Call{Alg: "bcrypt", Cost: bcrypt.MinCost}
	for _, c := range []struct {
		user, pw string
		match    bool
		want     []kdftrace.Call
	}{
		{"nobody", "wrong password", false, []kdftrace.Call{scryptCall, policy}},
		{"bob", "wrong password", false, []kdftrace.Call{scryptCall, policy}},
		{"carol", "wrong password", false, []kdftrace.Call{scryptCall, policy}},
		{"alice", "wrong password", false, []kdftrace.Call{scryptCall, policy}},
		{"sc", "wrong password", false, []kdftrace.Call{scryptCall, policy}},
		{"nobody", "pw" + strings.Repeat("!", 80), false, []kdftrace.Call{scryptCall, policy}},
		{"weak", "wrong password", false, []kdftrace.Call{scryptCall, argon2id(weakPolicy), policy}},
		{"strong", "wrong password", false, []kdftrace.Call{scryptCall, argon2id(strongPolicy)}},
		{"bc", "wrong password", false, []kdftrace.Call{scryptCall, bcryptCall, policy}},
		{"bc", "pw" + strings.Repeat("!", 80), false, []kdftrace.Call{scryptCall, bcryptCall, policy}},
		{"alice", "pw-alice", true, []kdftrace.Call{scryptCall, policy}},
		{"sc", ba.Password.Plaintext, true, []kdftrace.Call{scryptCall, policy}},
		{"weak", "pw-weak", true, []kdftrace.Call{scryptCall, argon2id(weakPolicy), policy}},
		{"strong", "pw-strong", true, []kdftrace.Call{scryptCall, argon2id(strongPolicy)}},
		{"bc", "pw-bc", true, []kdftrace.Call{scryptCall, bcryptCall, policy}},
	} {
		rec.Reset()
		verify(t, s, c.user, c.pw, c.match)
		if got := rec.Calls(); !slices.Equal(got, c.want) {
			t.Errorf("login as %s (match %v, password of %d bytes): derivations %+v, want %+v", c.user, c.match, len(c.pw), got, c.want)
		}
		if h, ok := hashes[c.user]; ok && storedHash(t, env, c.user) != h {
			t.Errorf("login as %s (match %v): the stored hash changed", c.user, c.match)
		}
	}

	// With upgrades on (the option off), a successful login on those
	// hashes does its own derivation, then the upgrade's Hash under the
	// policy, and no scrypt padding.
	plain := newStore(t, env, k)
	for _, c := range []struct {
		user, pw string
		own      kdftrace.Call
	}{
		{"weak", "pw-weak", argon2id(weakPolicy)},
		{"strong", "pw-strong", argon2id(strongPolicy)},
		{"sc", ba.Password.Plaintext, scryptCall},
		{"bc", "pw-bc", bcryptCall},
	} {
		rec.Reset()
		verify(t, plain, c.user, c.pw, true)
		if got, want := rec.Calls(), []kdftrace.Call{c.own, policy}; !slices.Equal(got, want) {
			t.Errorf("login as %s with upgrades: derivations %+v, want %+v", c.user, got, want)
		}
		if !strings.HasPrefix(storedHash(t, env, c.user), policyPrefix) {
			t.Errorf("login as %s with upgrades: hash not upgraded", c.user)
		}
	}
}

// TestWithoutPasswordUpgradeCancelled: a login whose context ends during
// the stored hash's own computation, under WithoutPasswordUpgrade, fails
// with the context's error rather than answer before the policy's work is
// done, and the hash stays as it was.
func TestWithoutPasswordUpgradeCancelled(t *testing.T) {
	env := avtest.New(t, "sqlite")
	s := newStore(t, env, genKeyring(t), store.WithoutPasswordUpgrade())
	ba := betterAuthPasswords(t, "sqlite-plain")[0]
	mustUpsert(t, s, accountvault.Account{ID: "cred", UserID: "sc", ProviderID: accountvault.ProviderCredential,
		AccountID: "sc", Password: accountvault.NewSecret(ba.Password.Stored)})

	rec := &kdftrace.Recorder{}
	hook := rec.Hook()
	if !kdftrace.Install(hook) {
		t.Fatal("another test is watching key derivations")
	}
	t.Cleanup(func() { kdftrace.Remove(hook) })
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rec.OnBegin(func(c kdftrace.Call) {
		if c.Alg == "scrypt" {
			cancel()
		}
	})
	ok, err := s.VerifyPassword(cctx, "sc", ba.Password.Plaintext)
	if ok || !errorsIs(err, context.Canceled) {
		t.Fatalf("VerifyPassword cancelled during scrypt = %v, %v; want false, context.Canceled", ok, err)
	}
	if storedHash(t, env, "sc") != ba.Password.Stored {
		t.Fatal("the stored hash changed")
	}
}
