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
