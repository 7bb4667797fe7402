//go:build unix

package store_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/postgres"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/internal/pgtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// Environment of the child processes of the database keyring tests.
const (
	dbkrChildEnv  = "ACCOUNTVAULT_TEST_DBKR_CHILD" // "edits" or "promote"
	dbkrDBEnv     = "ACCOUNTVAULT_TEST_DBKR_DB"    // SQLite path or Postgres URL
	dbkrTableEnv  = "ACCOUNTVAULT_TEST_DBKR_TABLE"
	dbkrMasterEnv = "ACCOUNTVAULT_TEST_DBKR_MASTER"
	dbkrArgEnv    = "ACCOUNTVAULT_TEST_DBKR_ARG"
)

// dbkrEnv is a table with a database keyring.
type dbkrEnv struct {
	env    *avtest.Env
	dbArg  string // for a child: the SQLite file or the Postgres URL
	mk     string
	master interface {
		Encrypt(plaintext, associatedData []byte) ([]byte, error)
		Decrypt(ciphertext, associatedData []byte) ([]byte, error)
	}
	d *store.DBKeyring
	k *keyring.Keyring // as created
}

func newDBKeyringEnv(t *testing.T, env *avtest.Env) *dbkrEnv {
	t.Helper()
	mk := mustMasterKey(t)
	master, err := keyring.ParseMasterKey(mk)
	if err != nil {
		t.Fatal(err)
	}
	d, err := store.NewDBKeyring(env.Backend)
	if err != nil {
		t.Fatal(err)
	}
	k := genKeyring(t)
	if err := d.Create(ctx, k, master); err != nil {
		t.Fatalf("Create: %v", err)
	}
	e := &dbkrEnv{env: env, mk: mk, master: master, d: d, k: k, dbArg: env.DBFile}
	if env.Name == "postgres" {
		e.dbArg = pgtest.URL()
	}
	return e
}

// child runs this test binary as another process in the given mode and
// returns its stdout lines once it exits.
func (e *dbkrEnv) child(t *testing.T, mode, arg string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDBKeyringChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), dbkrChildEnv+"="+mode, dbkrDBEnv+"="+e.dbArg, dbkrTableEnv+"="+e.env.Table,
		dbkrMasterEnv+"="+e.mk, dbkrArgEnv+"="+arg,
		// Under -race, the child would otherwise sleep 1s at exit.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %s: %v\n%s%s", mode, err, out.String(), errOut.String())
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "child: ") {
			lines = append(lines, strings.TrimPrefix(l, "child: "))
		}
	}
	return lines
}

// TestDBKeyringChild is the child process of the database keyring tests;
// run directly, it does nothing.
func TestDBKeyringChild(t *testing.T) {
	mode := os.Getenv(dbkrChildEnv)
	if mode == "" {
		t.Skip("child process of the database keyring tests")
	}
	dbArg, table := os.Getenv(dbkrDBEnv), os.Getenv(dbkrTableEnv)
	var b accountvault.Backend
	if strings.HasPrefix(dbArg, "postgres") {
		pb, err := postgres.Open(ctx, dbArg, postgres.WithTable(table))
		if err != nil {
			t.Fatal(err)
		}
		defer pb.Close()
		b = pb
	} else {
		sb, err := sqlite.Open(dbArg, sqlite.WithTable(table))
		if err != nil {
			t.Fatal(err)
		}
		defer sb.Close()
		b = sb
	}
	master, err := keyring.ParseMasterKey(os.Getenv(dbkrMasterEnv))
	if err != nil {
		t.Fatal(err)
	}
	d, err := store.NewDBKeyring(b)
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case "edits":
		n, _ := strconv.Atoi(os.Getenv(dbkrArgEnv))
		for range n {
			var id uint32
			_, err := d.Edit(ctx, master, func(k *keyring.Keyring) (err error) {
				id, err = k.Stage()
				return err
			})
			switch {
			case err == nil:
				fmt.Printf("child: landed %d\n", id)
			case errors.Is(err, keyring.ErrChangedMeanwhile):
				fmt.Printf("child: changed meanwhile\n")
			default:
				t.Fatalf("edit: %v", err)
			}
		}
	case "promote":
		id, err := strconv.ParseUint(os.Getenv(dbkrArgEnv), 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Edit(ctx, master, func(k *keyring.Keyring) error { return k.Promote(uint32(id)) }); err != nil {
			t.Fatalf("promote: %v", err)
		}
		fmt.Printf("child: saved %d\n", time.Now().UnixNano())
	default:
		t.Fatalf("unknown mode %q", mode)
	}
}

// TestDBKeyringCreateLoadEdit: the database keyring round-trips, is never
// replaced by Create, and an edit increments its generation.
func TestDBKeyringCreateLoadEdit(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		e := newDBKeyringEnv(t, env)
		if err := e.d.Create(ctx, genKeyring(t), e.master); !errors.Is(err, keyring.ErrChangedMeanwhile) || !errors.Is(err, accountvault.ErrConflict) {
			t.Fatalf("second Create: %v, want ErrChangedMeanwhile", err)
		}
		got, err := e.d.Load(ctx, e.master)
		if err != nil {
			t.Fatal(err)
		}
		if got.Primary() != e.k.Primary() || got.Generation() != e.k.Generation() {
			t.Fatalf("loaded primary %d generation %d, want %d %d", got.Primary(), got.Generation(), e.k.Primary(), e.k.Generation())
		}
		var id uint32
		k, err := e.d.Edit(ctx, e.master, func(k *keyring.Keyring) (err error) { id, err = k.Stage(); return err })
		if err != nil {
			t.Fatal(err)
		}
		got, err = e.d.Load(ctx, e.master)
		if err != nil {
			t.Fatal(err)
		}
		if got.Generation() != e.k.Generation()+1 || k.Generation() != got.Generation() || !slices.ContainsFunc(got.Keys(), func(ki keyring.KeyInfo) bool { return ki.ID == id }) {
			t.Fatalf("after Stage: generation %d, keys %v", got.Generation(), got.Keys())
		}
		// A wrong master key: ErrWrongMasterKey, nothing written.
		other, err := keyring.ParseMasterKey(mustMasterKey(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.d.Edit(ctx, other, func(k *keyring.Keyring) error { _, err := k.Stage(); return err }); !errors.Is(err, keyring.ErrWrongMasterKey) {
			t.Fatalf("Edit under another master key: %v", err)
		}
		// An empty table's keyring: ErrNoKeyring.
		env2 := avtest.New(t, env.Name)
		d2, err := store.NewDBKeyring(env2.Backend)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d2.Load(ctx, e.master); !errors.Is(err, keyring.ErrNoKeyring) {
			t.Fatalf("Load of no keyring: %v", err)
		}
	})
}

// TestDBKeyringConcurrentEdits: two processes each run 20 edits on one
// database keyring at once. Every edit lands or fails with
// ErrChangedMeanwhile, and the final keyring holds every key that landed.
func TestDBKeyringConcurrentEdits(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		e := newDBKeyringEnv(t, env)
		const edits = 20
		outs := make([][]string, 2)
		var wg sync.WaitGroup
		for i := range outs {
			wg.Go(func() { outs[i] = e.child(t, "edits", strconv.Itoa(edits)) })
		}
		wg.Wait()
		k, err := e.d.Load(ctx, e.master)
		if err != nil {
			t.Fatal(err)
		}
		have := map[uint32]bool{}
		for _, ki := range k.Keys() {
			have[ki.ID] = true
		}
		landed, changed := 0, 0
		for i, lines := range outs {
			if len(lines) != edits {
				t.Fatalf("child %d reported %d edits, want %d: %q", i, len(lines), edits, lines)
			}
			for _, l := range lines {
				if l == "changed meanwhile" {
					changed++
					continue
				}
				id, err := strconv.ParseUint(strings.TrimPrefix(l, "landed "), 10, 32)
				if err != nil {
					t.Fatalf("child %d: %q", i, l)
				}
				landed++
				if !have[uint32(id)] {
					t.Errorf("key %d landed but is not in the final keyring: a lost edit", id)
				}
			}
		}
		if want := e.k.Generation() + uint64(landed); k.Generation() != want || len(k.Keys()) != 1+landed {
			t.Errorf("final keyring: generation %d, %d keys; want %d, %d", k.Generation(), len(k.Keys()), want, 1+landed)
		}
		t.Logf("%d edits landed, %d changed meanwhile", landed, changed)
	})
}

// watch runs a.WatchKeyring until the test ends, sending its reports to
// the returned channel.
func watch(t *testing.T, a *store.Admin, e *dbkrEnv, interval time.Duration) <-chan error {
	t.Helper()
	wctx, cancel := context.WithCancel(context.Background())
	reports := make(chan error, 100)
	done := make(chan error, 1)
	go func() {
		done <- a.WatchKeyring(wctx, e.master, interval, func(err error) {
			select {
			case reports <- err:
			default:
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("WatchKeyring returned %v", err)
		}
	})
	return reports
}

// waitFor polls cond every 200µs until it holds, and returns when it did;
// it fails the test after limit (a liveness bound, not a measurement).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Now()
}

// TestDBKeyringPropagation: two stores (two connection pools) on one
// table watch the database keyring while 16 goroutines read and write
// through both; a `keys promote` by a third process reaches both, and
// afterwards new rows from either store are sealed under the new key. On
// Postgres the watchers poll once a minute, so the promotion can only
// arrive by LISTEN/NOTIFY; on SQLite they poll every 100ms. The time from
// the promoting process's save to the second store's reload is logged for
// each round, and the median (BENCHMARKS.md).
func TestDBKeyringPropagation(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		interval, rounds := time.Minute, 5
		if env.Name == "sqlite" {
			interval, rounds = 100*time.Millisecond, 3
		}
		if testing.Short() {
			rounds = 1
		}
		e := newDBKeyringEnv(t, env)
		s1 := newStore(t, env, e.k)
		s2, err := store.New(env.Reopen(t), kekOf(t, e.k), store.WithPasswordHasher(testHasher(t)))
		if err != nil {
			t.Fatal(err)
		}
		stores := []*store.Store{s1, s2}
		// As an application does at start: check the keyring before
		// serving (and before another replica can move ahead).
		for _, s := range stores {
			if err := admin(s).CheckKeyring(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var reports []<-chan error
		for _, s := range stores {
			reports = append(reports, watch(t, admin(s), e, interval))
		}

		// 16 goroutines write and read through both stores until stop.
		stop := make(chan struct{})
		var ops atomic.Int64
		var wg sync.WaitGroup
		var firstErr atomic.Pointer[error]
		for g := range 16 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					w, r := stores[(g+i)%2], stores[(g+i+1)%2]
					a := account(fmt.Sprintf("g%d-%d", g, i%20), fmt.Sprintf("u%d", g), "github", fmt.Sprintf("%d-%d", g, i%20))
					if _, err := w.Upsert(ctx, a); err != nil {
						firstErr.CompareAndSwap(nil, &err)
						return
					}
					if _, err := r.FindByProvider(ctx, "github", a.AccountID); err != nil {
						firstErr.CompareAndSwap(nil, &err)
						return
					}
					ops.Add(1)
				}
			})
		}
		stopped := false
		stopAll := func() {
			if !stopped {
				close(stop)
				wg.Wait()
				stopped = true
			}
		}
		defer stopAll()

		var times []time.Duration
		for round := range rounds {
			// Stage in this process and wait until both stores hold the
			// key (on Postgres, only a notification brings it).
			var id uint32
			if _, err := e.d.Edit(ctx, e.master, func(k *keyring.Keyring) (err error) { id, err = k.Stage(); return err }); err != nil {
				t.Fatal(err)
			}
			for i, s := range stores {
				waitFor(t, 30*time.Second, fmt.Sprintf("store %d loads staged key %d", i+1, id), func() bool {
					return slices.Contains(admin(s).KeyIDs(), id)
				})
			}
			// Watch both stores from before the promoting process starts.
			seen := make([]chan time.Time, len(stores))
			for i, s := range stores {
				seen[i] = make(chan time.Time, 1)
				go func() {
					deadline := time.Now().Add(60 * time.Second)
					for admin(s).PrimaryKeyID() != id && time.Now().Before(deadline) {
						time.Sleep(200 * time.Microsecond)
					}
					seen[i] <- time.Now()
				}()
			}
			lines := e.child(t, "promote", strconv.FormatUint(uint64(id), 10))
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "saved ") {
				t.Fatalf("promote child: %q", lines)
			}
			ns, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "saved "), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			var last time.Time
			for i, s := range stores {
				at := <-seen[i]
				if admin(s).PrimaryKeyID() != id {
					t.Fatalf("store %d did not load the promotion of key %d within 60s", i+1, id)
				}
				if at.After(last) {
					last = at
				}
			}
			d := last.Sub(time.Unix(0, ns))
			times = append(times, d)
			t.Logf("round %d: promotion reached both stores %v after it was saved", round, d)

			// New rows from either store use the new key.
			for i, s := range stores {
				a := account(fmt.Sprintf("new-%d-%d", round, i), "un", "google", fmt.Sprintf("%d-%d", round, i))
				mustUpsert(t, s, a)
				got, err := envelope.KeyID(env.Raw(t, a.ID, "access_token"))
				if err != nil || got != id {
					t.Fatalf("row written by store %d after the promotion names key %d (%v), want %d", i+1, got, err, id)
				}
			}
		}
		stopAll()
		if p := firstErr.Load(); p != nil {
			t.Fatalf("a reader or writer failed during the rotations: %v", *p)
		}
		for i, r := range reports {
			select {
			case err := <-r:
				t.Errorf("store %d's watcher reported %v", i+1, err)
			default:
			}
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		t.Logf("%s: %d operations during the rounds; propagation median %v (min %v, max %v, poll interval %v)",
			env.Name, ops.Load(), times[len(times)/2], times[0], times[len(times)-1], interval)
	})
}

// TestDBKeyringRollbackRefused: a database writer puts an older authentic
// copy of the database keyring back (one in which a since deleted key is
// primary). Running stores that watch it refuse it (ErrRollback reported
// once) and keep sealing with the newer keys; an edit refuses to build on
// it; a store started with it is refused at its first call.
func TestDBKeyringRollbackRefused(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		e := newDBKeyringEnv(t, env)
		k1 := e.k.Primary()
		s := newStore(t, env, e.k)
		reports := watch(t, admin(s), e, 20*time.Millisecond)
		var k2 uint32
		if _, err := e.d.Edit(ctx, e.master, func(k *keyring.Keyring) (err error) { k2, err = k.Rotate(); return err }); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "store loads the rotated keyring", func() bool { return admin(s).PrimaryKeyID() == k2 })
		// The copy the database writer keeps: k2 primary, k1 decrypt-only.
		old, err := e.d.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		final, err := e.d.Edit(ctx, e.master, func(k *keyring.Keyring) (err error) {
			if err := k.Disable(k1); err != nil {
				return err
			}
			return k.Delete(k1)
		})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "store drops the deleted key", func() bool { return !slices.Contains(admin(s).KeyIDs(), k1) })
		mustUpsert(t, s, account("r1", "u1", "github", "1")) // records the generation
		cur, err := e.d.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The database writer's rollback.
		if err := e.d.Swap(ctx, cur, old); err != nil {
			t.Fatal(err)
		}
		if err := e.d.Notify(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-reports:
			var re *keyring.RollbackError
			if !errors.Is(err, keyring.ErrRollback) || !errors.As(err, &re) || re.Next != e.k.Generation()+1 || re.Current != final.Generation() {
				t.Fatalf("watcher reported %v, want a rollback from %d to %d", err, final.Generation(), e.k.Generation()+1)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the watcher did not report the rollback")
		}
		time.Sleep(100 * time.Millisecond) // several polls
		select {
		case err := <-reports:
			t.Fatalf("second report of the same refused keyring: %v", err)
		default:
		}
		if got := admin(s).PrimaryKeyID(); got != k2 {
			t.Fatalf("store's primary is %d after the rollback, want %d", got, k2)
		}
		a := mustUpsert(t, s, account("r2", "u2", "github", "2"))
		if got, err := envelope.KeyID(env.Raw(t, a.ID, "access_token")); err != nil || got != k2 {
			t.Fatalf("row sealed under %d (%v), want %d", got, err, k2)
		}
		// An edit does not build on the rolled-back copy.
		if _, err := e.d.Edit(ctx, e.master, func(k *keyring.Keyring) error { _, err := k.Stage(); return err }); !errors.Is(err, keyring.ErrRollback) {
			t.Fatalf("Edit of the rolled-back keyring: %v, want ErrRollback", err)
		}
		// A restarted store handed it is refused.
		back, err := e.d.Load(ctx, e.master)
		if err != nil {
			t.Fatal(err)
		}
		s2 := newStore(t, env, back)
		if _, err := s2.FindByProvider(ctx, "github", "1"); !errors.Is(err, keyring.ErrRollback) {
			t.Fatalf("restarted store with the rolled-back keyring: %v, want ErrRollback", err)
		}
	})
}

// TestReloadBehindOtherReplicas: a replica that reloaded a staged key but
// served no request since, while another replica loaded the promotion and
// recorded its generation, is behind, not rolled back: its next request
// succeeds (its keys descend from keys it verified), and it follows when it
// loads the promotion.
func TestReloadBehindOtherReplicas(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		s1 := newStore(t, env, k)
		s2, err := store.New(env.Reopen(t), kekOf(t, k), store.WithPasswordHasher(testHasher(t)))
		if err != nil {
			t.Fatal(err)
		}
		mustUpsert(t, s1, account("a", "u", "github", "1"))
		mustUpsert(t, s2, account("b", "u", "github", "2"))
		id, err := k.Stage()
		if err != nil {
			t.Fatal(err)
		}
		stagedCopy := k.Clone()
		reload(t, s2, k) // staged, not used yet
		reload(t, s1, k)
		if err := k.Promote(id); err != nil {
			t.Fatal(err)
		}
		reload(t, s1, k)
		mustUpsert(t, s1, account("c", "u", "github", "3")) // records the promotion's generation
		if _, err := s2.FindByProvider(ctx, "github", "3"); err != nil {
			t.Fatalf("replica one reload behind: %v", err)
		}
		// A store started with the staged copy is refused: it has no
		// verified keys to descend from.
		s3 := newStore(t, env, stagedCopy)
		if _, err := s3.FindByProvider(ctx, "github", "3"); !errors.Is(err, keyring.ErrRollback) {
			t.Fatalf("store started with the staged copy: %v, want ErrRollback", err)
		}
	})
}
