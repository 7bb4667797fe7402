package store_test

// A bounded load test: 32 goroutines over two replicas of the store (two
// connection pools on one table) doing a realistic mix of reads, writes and
// password checks, while the key-encryption key is rotated the way
// SECURITY.md's runbook says (stage, reload everywhere, promote, reload
// everywhere) and Rewrap runs under the load.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/password"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// EnvLoadDuration overrides how long TestLoad runs on each backend (a
// time.ParseDuration string). The default is 30 s, or 5 s with -short.
const EnvLoadDuration = "ACCOUNTVAULT_LOAD_DURATION"

const (
	loadWorkers   = 32
	loadUsers     = 64  // each with two linked rows
	loadPwUsers   = 16  // of which the first have a credential row
	loadColdRows  = 400 // rows only read, never written by the load: Rewrap must move them
	loadTokenSize = 300
	loadBatch     = 32 // Rewrap batch size
)

// loadPolicy is the argon2id policy of the load test's password checks:
// 256 KiB, one pass, one lane. The default policy (64 MiB, t=3, p=4) costs
// tens of milliseconds a check and would make the 5% of password checks
// the whole test, measuring argon2id instead of the store; its cost is
// measured by the crypto/password benchmarks.
var loadPolicy = password.Policy{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func loadDuration(t *testing.T) time.Duration {
	if v := os.Getenv(EnvLoadDuration); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive duration such as 10s", EnvLoadDuration, v)
		}
		return d
	}
	if testing.Short() {
		return 5 * time.Second
	}
	return 30 * time.Second
}

// loadUser is one user's rows as the test wrote them. mu is held around
// every call on the user's rows, so that each read can be checked against
// the last write exactly.
type loadUser struct {
	mu  sync.Mutex
	id  string
	ver [2]int // version of each linked row
	pw  string // "" if the user has no password
}

func (u *loadUser) rowID(j int) string { return fmt.Sprintf("%s-%d", u.id, j) }

// loadRows is the number of rows in the table.
const loadRows = loadUsers*2 + loadPwUsers + loadColdRows

func coldID(i int) string { return fmt.Sprintf("C%04d", i) }

// loadStats counts operations by kind.
type loadStats struct {
	finds, lists, upserts, verifies atomic.Int64
}

func (s *loadStats) total() int64 {
	return s.finds.Load() + s.lists.Load() + s.upserts.Load() + s.verifies.Load()
}

// loadErrors keeps the count and the first few unexpected errors. None is
// expected: every call of the load must succeed (no row is deleted, every
// replica can open every key it meets, the database is local).
type loadErrors struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *loadErrors) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 10 {
		e.first = append(e.first, fmt.Sprintf(format, args...))
	}
}

func TestLoad(t *testing.T) {
	dur := loadDuration(t)
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		h, err := password.New(password.WithPolicy(loadPolicy), password.WithConcurrency(4))
		if err != nil {
			t.Fatal(err)
		}
		k := genKeyring(t)
		oldID := k.Primary()
		// Two replicas: each its own connection pool, the same keyring.
		replicas := []*store.Store{
			newStore(t, env, k, store.WithPasswordHasher(h)),
			newStore(t, &avtest.Env{Backend: env.Reopen(t)}, k, store.WithPasswordHasher(h)),
		}
		for i := range loadColdRows {
			mustUpsert(t, replicas[1], versioned(coldID(i), "cold", 0, loadTokenSize))
		}
		users := make([]*loadUser, loadUsers)
		for i := range users {
			u := &loadUser{id: fmt.Sprintf("L%03d", i)}
			for j := range u.ver {
				mustUpsert(t, replicas[0], versioned(u.rowID(j), u.id, 0, loadTokenSize))
			}
			if i < loadPwUsers {
				u.pw = fmt.Sprintf("correct horse %d battery", i)
				if err := replicas[0].SetPassword(ctx, u.id, u.pw); err != nil {
					t.Fatal(err)
				}
			}
			users[i] = u
		}

		var stats loadStats
		var errs loadErrors
		// Calls get a context that outlives the run: a call that hangs
		// fails instead of hanging the test.
		callCtx, cancel := context.WithTimeout(ctx, dur+2*time.Minute)
		defer cancel()
		start := time.Now()
		deadline := start.Add(dur)
		var wg sync.WaitGroup
		for w := range loadWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := replicas[w%len(replicas)]
				rng := rand.New(rand.NewPCG(uint64(w), 0x10ad))
				for time.Now().Before(deadline) {
					loadOp(callCtx, s, rng, users, &stats, &errs)
				}
			}()
		}

		// Midway: rotate the key across both replicas, then rewrap under
		// the load.
		var rotation struct {
			newID    uint32
			rewrap   store.RewrapReport
			err      error
			took     time.Duration
			promoted time.Duration // since start
		}
		var rwg sync.WaitGroup
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			time.Sleep(dur / 3)
			staged := k.Clone()
			id, err := staged.Stage()
			if err != nil {
				rotation.err = err
				return
			}
			stagedKEK, err := staged.KEK()
			if err != nil {
				rotation.err = err
				return
			}
			for _, s := range replicas {
				if err := s.Reload(stagedKEK); err != nil {
					rotation.err = err
					return
				}
			}
			time.Sleep(dur / 20)
			promoted := staged.Clone()
			if err := promoted.Promote(id); err != nil {
				rotation.err = err
				return
			}
			promotedKEK, err := promoted.KEK()
			if err != nil {
				rotation.err = err
				return
			}
			for _, s := range replicas {
				if err := s.Reload(promotedKEK); err != nil {
					rotation.err = err
					return
				}
			}
			rotation.newID = id
			rotation.promoted = time.Since(start)
			began := time.Now()
			rotation.rewrap, rotation.err = admin(replicas[0]).Rewrap(callCtx, store.WalkOptions{BatchSize: loadBatch})
			rotation.took = time.Since(began)
		}()
		wg.Wait()
		elapsed := time.Since(start)
		rwg.Wait()

		if rotation.err != nil {
			t.Fatalf("rotation: %v", rotation.err)
		}
		rw := rotation.rewrap
		if rw.Failed != 0 || rw.Seen != loadRows || rw.Rewritten < loadColdRows {
			t.Fatalf("Rewrap under load: %+v (want %d rows seen, at least the %d cold rows rewrapped)", rw.Progress, loadRows, loadColdRows)
		}
		if rotation.promoted > dur {
			t.Fatalf("the rotation finished after the load (at %v of %v): it ran under no load", rotation.promoted, dur)
		}
		t.Logf("rotation: key %d promoted at %v; Rewrap under load took %v: %d rows seen, %d rewrapped, %d already on the new key, %d conflicts (a concurrent write won)",
			rotation.newID, rotation.promoted.Round(time.Millisecond), rotation.took.Round(time.Millisecond), rw.Seen, rw.Rewritten, rw.Skipped, rw.Conflicts)

		if errs.n > 0 {
			t.Errorf("%d unexpected errors; the first:\n  %s", errs.n, strings.Join(errs.first, "\n  "))
		}
		total := stats.total()
		if total == 0 || stats.upserts.Load() == 0 || stats.verifies.Load() == 0 {
			t.Fatalf("the load did nothing: %d operations", total)
		}
		t.Logf("%s: %d operations in %v with %d goroutines over 2 replicas: %.0f ops/s (finds %d, FindForUser %d, upserts %d, password checks %d)",
			env.Name, total, elapsed.Round(time.Millisecond), loadWorkers, float64(total)/elapsed.Seconds(),
			stats.finds.Load(), stats.lists.Load(), stats.upserts.Load(), stats.verifies.Load())

		// A final Rewrap leaves nothing on the old key; every value opens.
		rep, err := admin(replicas[1]).Rewrap(ctx, store.WalkOptions{BatchSize: loadBatch})
		if err != nil || rep.Failed != 0 {
			t.Fatalf("final Rewrap: %+v, %v", rep.Progress, err)
		}
		check, err := admin(replicas[1]).Check(ctx, store.WalkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sealed, legacy, failed := check.Totals()
		usage := check.KeyUsage()
		if failed != 0 || legacy != 0 || usage[oldID] != 0 || usage[rotation.newID] != sealed || check.Rows != loadRows {
			t.Fatalf("final Check: %d rows, %d sealed, %d legacy, %d failed, key usage %v (old key %d, new key %d)",
				check.Rows, sealed, legacy, failed, usage, oldID, rotation.newID)
		}
		for _, raw := range rawRows(t, env.Backend) {
			rowWholeAtRest(t, raw)
		}
		// The last write to each row is what is read back, from either
		// replica.
		for i := range loadColdRows {
			if got := mustFind(t, replicas[i%2], "fault", coldID(i)); !sameVersion(got, 0, loadTokenSize) {
				t.Errorf("cold row %s changed", coldID(i))
			}
		}
		for i, u := range users {
			for j := range u.ver {
				got := mustFind(t, replicas[i%2], "fault", u.rowID(j))
				if !sameVersion(got, u.ver[j], loadTokenSize) {
					t.Errorf("row %s does not hold its last write (version %d)", u.rowID(j), u.ver[j])
				}
			}
			if u.pw != "" {
				if ok, err := replicas[(i+1)%2].VerifyPassword(ctx, u.id, u.pw); err != nil || !ok {
					t.Errorf("user %s: password no longer verifies: %v %v", u.id, ok, err)
				}
			}
		}
		keys := make([]uint32, 0, len(usage))
		for id := range usage {
			keys = append(keys, id)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		t.Logf("final: %d rows, %d sealed values, all on key %v", check.Rows, sealed, keys)
	})
}

// loadTarget is what the load's mix calls: a *store.Store, or the bare
// backend under the same calls (bareTarget, TestLoadThroughput).
type loadTarget interface {
	FindByProvider(ctx context.Context, providerID, accountID string) (accountvault.Account, error)
	FindForUser(ctx context.Context, userID string) ([]accountvault.Account, error)
	Upsert(ctx context.Context, a accountvault.Account) (accountvault.Account, error)
	VerifyPassword(ctx context.Context, userID, pw string) (bool, error)
}

// loadOp does one operation of the mix: 70% reads (60 points of
// FindByProvider, 6 of them on cold rows, and 10 of FindForUser), 25%
// upserts, 5% password checks (a third each: the right password, a wrong
// one, an unknown user). Each read and write holds its user's lock and is
// checked against the user's last write.
func loadOp(ctx context.Context, s loadTarget, rng *rand.Rand, users []*loadUser, stats *loadStats, errs *loadErrors) {
	u := users[rng.IntN(len(users))]
	switch r := rng.IntN(100); {
	case r < 6:
		id := coldID(rng.IntN(loadColdRows))
		got, err := s.FindByProvider(ctx, "fault", id)
		switch {
		case err != nil:
			errs.add("FindByProvider %s: %v", id, err)
		case !sameVersion(got, 0, loadTokenSize):
			errs.add("FindByProvider %s: not the row written", id)
		}
		stats.finds.Add(1)
	case r < 60:
		j := rng.IntN(len(u.ver))
		u.mu.Lock()
		defer u.mu.Unlock()
		got, err := s.FindByProvider(ctx, "fault", u.rowID(j))
		switch {
		case err != nil:
			errs.add("FindByProvider %s: %v", u.rowID(j), err)
		case !sameVersion(got, u.ver[j], loadTokenSize):
			errs.add("FindByProvider %s: not the last write (version %d)", u.rowID(j), u.ver[j])
		}
		stats.finds.Add(1)
	case r < 70:
		u.mu.Lock()
		defer u.mu.Unlock()
		rows, err := s.FindForUser(ctx, u.id)
		if err != nil {
			errs.add("FindForUser %s: %v", u.id, err)
			break
		}
		want := len(u.ver)
		if u.pw != "" {
			want++
		}
		if len(rows) != want {
			errs.add("FindForUser %s: %d rows, want %d", u.id, len(rows), want)
			break
		}
		for _, a := range rows {
			if a.ProviderID == accountvault.ProviderCredential {
				if a.Password.IsZero() {
					errs.add("FindForUser %s: credential row without its hash", u.id)
				}
				continue
			}
			j := int(a.ID[len(a.ID)-1] - '0')
			if !sameVersion(a, u.ver[j], loadTokenSize) {
				errs.add("FindForUser %s: row %s not the last write (version %d)", u.id, a.ID, u.ver[j])
			}
		}
		stats.lists.Add(1)
	case r < 95:
		j := rng.IntN(len(u.ver))
		u.mu.Lock()
		defer u.mu.Unlock()
		v := u.ver[j] + 1
		got, err := s.Upsert(ctx, versioned(u.rowID(j), u.id, v, loadTokenSize))
		switch {
		case err != nil:
			errs.add("Upsert %s: %v", u.rowID(j), err)
			return // the row's state is unknown: the test fails anyway
		case !sameVersion(got, v, loadTokenSize):
			errs.add("Upsert %s returned other tokens", u.rowID(j))
		}
		u.ver[j] = v
		stats.upserts.Add(1)
	default:
		pu := users[rng.IntN(loadPwUsers)]
		var ok bool
		var err error
		var want bool
		switch rng.IntN(3) {
		case 0:
			ok, err = s.VerifyPassword(ctx, pu.id, pu.pw)
			want = true
		case 1:
			ok, err = s.VerifyPassword(ctx, pu.id, pu.pw+" wrong")
		default:
			ok, err = s.VerifyPassword(ctx, "nobody-"+pu.id, pu.pw)
		}
		if err != nil || ok != want {
			errs.add("VerifyPassword for %s: %v, %v (want %v)", pu.id, ok, err, want)
		}
		stats.verifies.Add(1)
	}
}
