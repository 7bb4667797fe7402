package accountvault_test

// End-to-end tests: the library's story over both real backends, from
// linking accounts to an online multi-replica key rotation.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/crypto/password"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

var cheap = password.Policy{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func cheapHasher(t testing.TB) *password.Hasher {
	t.Helper()
	h, err := password.New(password.WithPolicy(cheap))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// replica is one running application instance: its own backend handle and
// store, reloading the shared keyring file.
type replica struct {
	name  string
	s     *store.Store
	admin *store.Admin
}

func startReplica(t *testing.T, ctx context.Context, name string, b accountvault.Backend, file string, master any, logger *slog.Logger) *replica {
	t.Helper()
	m := master.(interface {
		Encrypt(plaintext, associatedData []byte) ([]byte, error)
		Decrypt(ciphertext, associatedData []byte) ([]byte, error)
	})
	k, err := keyring.LoadFile(file, m)
	if err != nil {
		t.Fatalf("%s: LoadFile: %v", name, err)
	}
	kek, err := k.KEK()
	if err != nil {
		t.Fatalf("%s: KEK: %v", name, err)
	}
	s, err := store.New(b, kek, store.WithPasswordHasher(cheapHasher(t)), store.WithLogger(logger.With("replica", name)))
	if err != nil {
		t.Fatalf("%s: store.New: %v", name, err)
	}
	admin := store.NewAdmin(s)
	go func() {
		err := admin.WatchKeyringFile(ctx, file, m, 10*time.Millisecond, func(err error) { t.Errorf("%s: keyring reload: %v", name, err) })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: WatchKeyringFile returned %v", name, err)
		}
	}()
	return &replica{name: name, s: s, admin: admin}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMultiReplicaRotation runs the documented rotation (stage, reload,
// promote, reload, rewrap, check, retire) with two replicas over one
// database while both serve reads and writes. At the end every row is on
// the new key, none is lost, none fails to open, and each row holds the
// last token written to it.
func TestMultiReplicaRotation(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var logs bytes.Buffer
		var logMu sync.Mutex
		logger := slog.New(slog.NewJSONHandler(lockedWriter{&logs, &logMu}, nil))

		masterKey, err := keyring.NewMasterKey()
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv(keyring.EnvMasterKey, masterKey)
		master, err := keyring.MasterKeyFromEnv(keyring.EnvMasterKey)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "keyring.json")
		k, err := keyring.Generate()
		if err != nil {
			t.Fatal(err)
		}
		if err := k.SaveFile(file, master); err != nil {
			t.Fatal(err)
		}
		oldKey := k.Primary()

		a := startReplica(t, ctx, "a", env.Backend, file, master, logger)
		b := startReplica(t, ctx, "b", env.Reopen(t), file, master, logger)
		replicas := []*replica{a, b}

		// Seed rows under the old key.
		const rows = 60
		id := func(i int) string { return fmt.Sprintf("row%03d", i) }
		for i := range rows {
			acct := accountvault.Account{ID: id(i), UserID: fmt.Sprintf("user%d", i%7), ProviderID: "github", AccountID: id(i),
				AccessToken: accountvault.NewSecret("seed-" + id(i)), RefreshToken: accountvault.NewSecret("refresh")}
			if _, err := a.s.Upsert(ctx, acct); err != nil {
				t.Fatal(err)
			}
		}

		// Traffic: writers write the even rows (writer w owns those with
		// i/2 ≡ w mod writers) and record the last token they wrote; the odd
		// rows are left for rewrap. Readers read any row.
		const writers = 4
		var last [rows]atomic.Value
		var stop atomic.Bool
		var reads, writes atomic.Int64
		// epoch counts the keyring steps; done[g] is the epoch at which the
		// last call goroutine g finished had begun (see step).
		var epoch atomic.Int64
		var done [2 * writers]atomic.Int64
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := replicas[w%2]
				for n := 0; !stop.Load(); n++ {
					e := epoch.Load()
					i := 2 * (w + writers*(n%(rows/(2*writers))))
					tok := fmt.Sprintf("w%d-%d-%s", w, n, id(i))
					acct := accountvault.Account{ID: id(i), UserID: fmt.Sprintf("user%d", i%7), ProviderID: "github", AccountID: id(i),
						AccessToken: accountvault.NewSecret(tok), RefreshToken: accountvault.NewSecret("refresh")}
					if _, err := r.s.Upsert(ctx, acct); err != nil {
						t.Errorf("%s: write %s: %v", r.name, id(i), err)
						return
					}
					last[i].Store(tok)
					writes.Add(1)
					done[2*w].Store(e)
				}
			}()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := replicas[(w+1)%2]
				rng := rand.New(rand.NewPCG(uint64(w), 1))
				for !stop.Load() {
					e := epoch.Load()
					i := rng.IntN(rows)
					if _, err := r.s.FindByProvider(ctx, "github", id(i)); err != nil {
						t.Errorf("%s: read %s: %v", r.name, id(i), err)
						return
					}
					reads.Add(1)
					done[2*w+1].Store(e)
				}
			}()
		}
		// step edits and saves the keyring, waits for every replica to
		// reload it, then for every call that began before the reload to
		// end, as an operator waits between the steps of the runbook: a
		// write in flight seals with the keys it began with
		// (Store.Reload), so a write that began before the promotion
		// seals under the old primary, possibly after a rewrap has passed
		// its row.
		step := func(what string, edit func(k *keyring.Keyring) error, until func(r *replica) bool) {
			t.Helper()
			if err := edit(k); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if err := k.SaveFile(file, master); err != nil {
				t.Fatal(err)
			}
			for _, r := range replicas {
				waitFor(t, r.name+" to reload after "+what, func() bool { return until(r) })
			}
			e := epoch.Add(1)
			waitFor(t, "the calls in flight at the "+what+" to end", func() bool {
				if stop.Load() {
					return true
				}
				for g := range done {
					if done[g].Load() < e {
						return false
					}
				}
				return true
			})
		}
		time.Sleep(50 * time.Millisecond)

		// 1. Stage, and wait for every replica to hold the new key.
		var newKey uint32
		step("stage", func(k *keyring.Keyring) (err error) { newKey, err = k.Stage(); return err },
			func(r *replica) bool { return slices.Contains(r.admin.KeyIDs(), newKey) })
		// 2. Promote.
		step("promote", func(k *keyring.Keyring) error { return k.Promote(newKey) },
			func(r *replica) bool { return r.admin.PrimaryKeyID() == newKey })
		// 3. Rewrap, from both replicas at once, while traffic goes on.
		var rwg sync.WaitGroup
		reports := make([]store.RewrapReport, 2)
		for i, r := range replicas {
			rwg.Add(1)
			go func() {
				defer rwg.Done()
				rep, err := r.admin.Rewrap(ctx, store.WalkOptions{BatchSize: 7})
				if err != nil {
					t.Errorf("%s: Rewrap: %v", r.name, err)
				}
				reports[i] = rep
			}()
		}
		rwg.Wait()
		time.Sleep(50 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		rewrapped := 0
		for i, rep := range reports {
			if rep.Failed != 0 || rep.Seen != rows {
				t.Fatalf("rewrap %d: %+v", i, rep.Progress)
			}
			rewrapped += rep.Rewritten
		}
		if rewrapped < rows/2 {
			t.Fatalf("the two rewraps rewrote %d rows; the %d rows nobody writes needed it", rewrapped, rows/2)
		}
		// 4. Check: every value opens, and none names the old key.
		rep, err := a.admin.Check(ctx, store.WalkOptions{BatchSize: 16})
		if err != nil {
			t.Fatal(err)
		}
		if sealed, legacy, failed := rep.Totals(); failed != 0 || legacy != 0 || sealed != 2*rows || rep.Rows != rows {
			t.Fatalf("check: rows %d sealed %d legacy %d failed %d", rep.Rows, sealed, legacy, failed)
		}
		if u := rep.KeyUsage(); u[oldKey] != 0 || u[newKey] != 2*rows {
			t.Fatalf("key usage after rewrap: %v", u)
		}
		// 5. Retire the old key: refused while in use is tested in store;
		// here it is free, so the operator disables it in the keyring and
		// the replicas reload.
		if err := a.admin.CheckRetire(ctx, oldKey, store.WalkOptions{}); err != nil {
			t.Fatalf("CheckRetire: %v", err)
		}
		step("disable", func(k *keyring.Keyring) error { return k.Disable(oldKey) },
			func(r *replica) bool { return !slices.Contains(r.admin.KeyIDs(), oldKey) })

		// Every row holds the last token its writer wrote, and opens on both replicas.
		for _, r := range replicas {
			for i := range rows {
				got, err := r.s.FindByProvider(ctx, "github", id(i))
				if err != nil {
					t.Fatalf("%s: %s after rotation: %v", r.name, id(i), err)
				}
				want, _ := last[i].Load().(string)
				if want == "" {
					want = "seed-" + id(i)
				}
				if got.AccessToken.Reveal() != want {
					t.Fatalf("%s: %s lost its last write (len %d, want len %d)", r.name, id(i), got.AccessToken.Len(), len(want))
				}
			}
		}
		if n := env.Count(t); n != rows {
			t.Fatalf("%d rows, want %d", n, rows)
		}
		logMu.Lock()
		audit := logs.String()
		logMu.Unlock()
		for _, ev := range []string{"keyring loaded", "rewrap finished", "check finished", "key may be retired"} {
			if !strings.Contains(audit, ev) {
				t.Errorf("no audit event %q", ev)
			}
		}
		if strings.Contains(audit, "seed-") || strings.Contains(audit, "-row0") {
			t.Error("a token appears in the audit log")
		}
		t.Logf("%s: %d reads and %d writes during the rotation; rewrap reports %+v / %+v", env.Name, reads.Load(), writes.Load(), reports[0].Progress, reports[1].Progress)
	})
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// TestStory is the library in brief: link accounts, read them back, log in,
// and find the tokens sealed at rest.
func TestStory(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		ctx := context.Background()
		k, err := keyring.Generate()
		if err != nil {
			t.Fatal(err)
		}
		kek, err := k.KEK()
		if err != nil {
			t.Fatal(err)
		}
		s, err := store.New(env.Backend, kek, store.WithPasswordHasher(cheapHasher(t)))
		if err != nil {
			t.Fatal(err)
		}
		gh := accountvault.Account{ID: "acc_1", UserID: "user_1", ProviderID: "github", AccountID: "12345",
			AccessToken: accountvault.NewSecret("gho_story"), Scope: "read:user"}
		if _, err := s.Upsert(ctx, gh); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPassword(ctx, "user_1", "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
		accts, err := s.FindForUser(ctx, "user_1")
		if err != nil || len(accts) != 2 {
			t.Fatalf("FindForUser: %d, %v", len(accts), err)
		}
		got, err := s.FindByProvider(ctx, "github", "12345")
		if err != nil || got.AccessToken.Reveal() != "gho_story" {
			t.Fatalf("FindByProvider: %v", err)
		}
		if strings.Contains(fmt.Sprintf("%+v", got), "gho_story") {
			t.Fatal("an Account prints its token")
		}
		if raw := env.Raw(t, "acc_1", "access_token"); !envelope.IsSealed(raw) || bytes.Contains(raw, []byte("gho_story")) {
			t.Fatal("the token is not sealed at rest")
		}
		for pw, want := range map[string]bool{"correct horse battery staple": true, "wrong": false} {
			ok, err := s.VerifyPassword(ctx, "user_1", pw)
			if err != nil || ok != want {
				t.Fatalf("VerifyPassword = %v, %v; want %v", ok, err, want)
			}
		}
		if ok, err := s.VerifyPassword(ctx, "nobody", "x"); ok || err != nil {
			t.Fatalf("unknown user: %v, %v", ok, err)
		}
	})
}

// session is an application's own struct, as a handler might keep and log
// it: the Accounts sit in unexported fields, where fmt and log/slog cannot
// call the methods of their Secrets.
type session struct {
	user     string
	account  accountvault.Account
	ptr      *accountvault.Account
	accounts []accountvault.Account
	byID     map[string]accountvault.Account
}

// stringSecret is a secret held in a string, redacting itself through its
// methods as Secret did before issue 9: the control that shows the scan
// below can fail.
type stringSecret string

func (stringSecret) String() string                { return accountvault.Redacted }
func (stringSecret) Format(f fmt.State, verb rune) { fmt.Fprint(f, accountvault.Redacted) }

type leakySession struct{ token stringSecret }

// TestRedactionEndToEnd: Accounts read from the store, held in an
// application struct's unexported fields (and directly, by value and by
// pointer), printed with every fmt verb and logged through slog's text and
// JSON handlers, show no byte of a token or of the password hash (issue 9,
// item 4).
func TestRedactionEndToEnd(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		ctx := context.Background()
		k, err := keyring.Generate()
		if err != nil {
			t.Fatal(err)
		}
		kek, err := k.KEK()
		if err != nil {
			t.Fatal(err)
		}
		s, err := store.New(env.Backend, kek, store.WithPasswordHasher(cheapHasher(t)))
		if err != nil {
			t.Fatal(err)
		}
		const access, refresh, idTok = "gho_REDACT7f3a9c1e", "ghr_REDACT2b8d4f60", "eyJREDACT5e1c7a93"
		if _, err := s.Upsert(ctx, accountvault.Account{ID: "acc_1", UserID: "user_1", ProviderID: "github", AccountID: "1",
			AccessToken: accountvault.NewSecret(access), RefreshToken: accountvault.NewSecret(refresh), IDToken: accountvault.NewSecret(idTok)}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPassword(ctx, "user_1", "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindByProvider(ctx, "github", "1")
		if err != nil || got.AccessToken.Reveal() != access {
			t.Fatalf("FindByProvider: %v", err)
		}
		all, err := s.FindForUser(ctx, "user_1")
		if err != nil || len(all) != 2 {
			t.Fatalf("FindForUser: %d rows, %v", len(all), err)
		}
		var hash string
		for _, a := range all {
			if a.ProviderID == accountvault.ProviderCredential {
				hash = a.Password.Reveal()
			}
		}
		if hash == "" {
			t.Fatal("no password hash read back")
		}

		// Every form of each secret that a printer could produce.
		var needles []string
		for _, sec := range []string{access, refresh, idTok, hash} {
			b := []byte(sec)
			needles = append(needles, sec, hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
				base64.StdEncoding.EncodeToString(b)[:len(sec)], strings.Trim(fmt.Sprint(b), "[]"), fmt.Sprintf("%#v", b)[len("[]byte{"):40])
		}
		leaks := func(out string) []int {
			var hit []int
			for i, n := range needles {
				if strings.Contains(out, n) {
					hit = append(hit, i)
				}
			}
			return hit
		}
		if leaks(fmt.Sprintf("%v", leakySession{stringSecret(access)})) == nil {
			t.Fatal("the scan misses a token printed through an unexported field: it proves nothing")
		}

		sess := session{user: "user_1", account: got, ptr: &got, accounts: all, byID: map[string]accountvault.Account{got.ID: got}}
		values := map[string]any{
			"session": sess, "*session": &sess, "Account": got, "*Account": &got, "[]Account": all,
			"Secret": got.AccessToken, "*Secret": &got.AccessToken, "Password": all[0].Password,
		}
		var outputs []string
		for name, v := range values {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%p", "%T", "%t", "%c", "%U", "%e", "%8.3s", "%-#q"} {
				outputs = append(outputs, name+" "+verb+": "+fmt.Sprintf(verb, v))
			}
			outputs = append(outputs, name+" Sprint: "+fmt.Sprint(v), name+" Sprintln: "+fmt.Sprintln(v))
		}
		var text, js bytes.Buffer
		for _, h := range []slog.Handler{
			slog.NewTextHandler(&text, &slog.HandlerOptions{Level: slog.LevelDebug}),
			slog.NewJSONHandler(&js, &slog.HandlerOptions{Level: slog.LevelDebug}),
		} {
			l := slog.New(h)
			l.Info("login", "session", sess, "session_ptr", &sess, "account", got, "account_ptr", &got, "accounts", all,
				"token", got.AccessToken, slog.Any("any", sess), slog.Group("g", "account", got))
			l.With("bound", sess).Debug("bound", "v", &got)
		}
		outputs = append(outputs, "slog text: "+text.String(), "slog JSON: "+js.String())
		if !strings.Contains(text.String(), "user_1") || !strings.Contains(js.String(), "acc_1") {
			t.Fatal("the logs do not even show the clear fields: the scan is blind")
		}
		for _, out := range outputs {
			if hit := leaks(out); hit != nil {
				label, _, _ := strings.Cut(out, ":")
				t.Errorf("LEAK: %s shows secret forms %v", label, hit)
			}
		}
		t.Logf("%d outputs scanned for %d needles", len(outputs), len(needles))
	})
}
