//go:build linux

package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/password"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// Environment of TestLoadThroughput.
const (
	envLoadCompare = "ACCOUNTVAULT_LOAD_COMPARE" // "1" runs it
	envLoadRounds  = "ACCOUNTVAULT_LOAD_ROUNDS"  // rounds (default 6)
	envLoadPhase   = "ACCOUNTVAULT_LOAD_PHASE"   // each side's time per round (default 3s)
)

// TestLoadThroughput measures TestLoad's mix (32 goroutines over two
// replicas: 60% FindByProvider, 10% FindForUser, 25% Upsert, 5% password
// checks, each checked against the user's last write) through the store
// (impl=sealed) and on the bare backend (impl=bare: the same calls, the
// tokens stored as given, passwords verified by the same hasher), in the
// same run: rounds of one phase per side, the order alternating, each side
// over its own table of the same rows. It logs ops/s per phase and the
// median of the per-round store/bare ratios; it asserts nothing about
// them. It runs only with ACCOUNTVAULT_LOAD_COMPARE=1:
//
//	ACCOUNTVAULT_LOAD_COMPARE=1 go test -count 1 -run '^TestLoadThroughput$' -v ./store/
func TestLoadThroughput(t *testing.T) {
	if os.Getenv(envLoadCompare) != "1" {
		t.Skipf("set %s=1 to compare the load's throughput through the store and on the bare backend", envLoadCompare)
	}
	rounds, phase := 6, 3*time.Second
	if v := os.Getenv(envLoadRounds); v != "" {
		var err error
		if rounds, err = strconv.Atoi(v); err != nil || rounds < 1 {
			t.Fatalf("%s=%q", envLoadRounds, v)
		}
	}
	if v := os.Getenv(envLoadPhase); v != "" {
		var err error
		if phase, err = time.ParseDuration(v); err != nil || phase <= 0 {
			t.Fatalf("%s=%q", envLoadPhase, v)
		}
	}
	for _, kind := range avtest.Kinds {
		t.Run(kind, func(t *testing.T) {
			h, err := password.New(password.WithPolicy(loadPolicy), password.WithConcurrency(4))
			if err != nil {
				t.Fatal(err)
			}
			sides := map[string]*loadSide{}
			// impl=sealed: two stores, each on its own pool, one keyring.
			senv := avtest.New(t, kind)
			k := genKeyring(t)
			sealed := []loadTarget{
				newStore(t, senv, k, store.WithPasswordHasher(h)),
				newStore(t, &avtest.Env{Backend: senv.Reopen(t)}, k, store.WithPasswordHasher(h)),
			}
			sides["sealed"] = newLoadSide(t, sealed, func(u string, pw string) error {
				return sealed[0].(*store.Store).SetPassword(ctx, u, pw)
			})
			// impl=bare: two backends, each on its own pool.
			benv := avtest.New(t, kind)
			bare := []loadTarget{bareTarget{benv.Backend, h}, bareTarget{benv.Reopen(t), h}}
			sides["bare"] = newLoadSide(t, bare, func(u string, pw string) error {
				hash, err := h.Hash(ctx, pw)
				if err != nil {
					return err
				}
				_, err = benv.Backend.Upsert(ctx, accountvault.SealedRow{ID: "pw-" + u, UserID: u,
					ProviderID: accountvault.ProviderCredential, AccountID: u, Password: accountvault.NewSecret(hash)})
				return err
			})
			var ratios, cpuRatios []float64
			rates, cpus := map[string][]float64{}, map[string][]float64{}
			for r := range rounds {
				order := []string{"bare", "sealed"}
				if r%2 == 1 {
					order = []string{"sealed", "bare"}
				}
				got, cpu := map[string]float64{}, map[string]time.Duration{}
				for _, name := range order {
					got[name], cpu[name] = sides[name].run(t, phase)
					rates[name] = append(rates[name], got[name])
					cpus[name] = append(cpus[name], float64(cpu[name].Nanoseconds())/1000)
				}
				ratios = append(ratios, got["sealed"]/got["bare"])
				cpuRatios = append(cpuRatios, float64(cpu["sealed"])/float64(cpu["bare"]))
				t.Logf("%s round %d: bare %.0f ops/s (%.1f µs CPU/op), sealed %.0f ops/s (%.1f µs CPU/op), sealed/bare %.3f ops/s, %.3f CPU/op",
					kind, r+1, got["bare"], cpus["bare"][r], got["sealed"], cpus["sealed"][r], ratios[r], cpuRatios[r])
			}
			t.Logf("%s: medians over %d rounds of %v per side: bare %.0f ops/s (%.1f µs CPU/op), sealed %.0f ops/s (%.1f µs CPU/op); per-round sealed/bare: ops/s %.3f [%.3f, %.3f], CPU/op %.3f [%.3f, %.3f]",
				kind, rounds, phase, median(rates["bare"]), median(cpus["bare"]), median(rates["sealed"]), median(cpus["sealed"]),
				median(ratios), slices.Min(ratios), slices.Max(ratios), median(cpuRatios), slices.Min(cpuRatios), slices.Max(cpuRatios))
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loadSide is one side of TestLoadThroughput: its replicas and its users.
type loadSide struct {
	replicas []loadTarget
	users    []*loadUser
}

// newLoadSide writes TestLoad's rows through replicas (setPassword sets a
// user's password).
func newLoadSide(t *testing.T, replicas []loadTarget, setPassword func(user, pw string) error) *loadSide {
	t.Helper()
	side := &loadSide{replicas: replicas}
	for i := range loadColdRows {
		if _, err := replicas[1].Upsert(ctx, versioned(coldID(i), "cold", 0, loadTokenSize)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range loadUsers {
		u := &loadUser{id: fmt.Sprintf("L%03d", i)}
		for j := range u.ver {
			if _, err := replicas[0].Upsert(ctx, versioned(u.rowID(j), u.id, 0, loadTokenSize)); err != nil {
				t.Fatal(err)
			}
		}
		if i < loadPwUsers {
			u.pw = fmt.Sprintf("correct horse %d battery", i)
			if err := setPassword(u.id, u.pw); err != nil {
				t.Fatal(err)
			}
		}
		side.users = append(side.users, u)
	}
	return side
}

// run runs the mix for d and returns its rate and the process's CPU time
// per operation (the collector's included; on Postgres the client's only).
func (side *loadSide) run(t *testing.T, d time.Duration) (float64, time.Duration) {
	t.Helper()
	cpu0 := processCPU(t)
	var stats loadStats
	var errs loadErrors
	callCtx, cancel := context.WithTimeout(ctx, d+2*time.Minute)
	defer cancel()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := side.replicas[w%len(side.replicas)]
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for time.Now().Before(deadline) {
				loadOp(callCtx, s, rng, side.users, &stats, &errs)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if errs.n > 0 {
		t.Fatalf("%d unexpected errors; the first: %v", errs.n, errs.first)
	}
	cpu := processCPU(t) - cpu0
	return float64(stats.total()) / elapsed.Seconds(), cpu / time.Duration(stats.total())
}

// processCPU returns the CPU time the process has used.
func processCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareTarget makes the load's calls on a backend directly: tokens are
// stored as given (no sealing), and a password check finds the credential
// row and verifies its hash with the same hasher as the store's.
type bareTarget struct {
	b accountvault.Backend
	h *password.Hasher
}

func toSealed(a accountvault.Account) accountvault.SealedRow {
	return accountvault.SealedRow{
		ID: a.ID, UserID: a.UserID, ProviderID: a.ProviderID, AccountID: a.AccountID,
		AccessToken: []byte(a.AccessToken.Reveal()), RefreshToken: []byte(a.RefreshToken.Reveal()), IDToken: []byte(a.IDToken.Reveal()),
		AccessTokenExpiresAt: a.AccessTokenExpiresAt, RefreshTokenExpiresAt: a.RefreshTokenExpiresAt,
		Scope: a.Scope, Password: a.Password, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

func fromSealed(r accountvault.SealedRow) accountvault.Account {
	return accountvault.Account{
		ID: r.ID, UserID: r.UserID, ProviderID: r.ProviderID, AccountID: r.AccountID,
		AccessToken: accountvault.SecretBytes(r.AccessToken), RefreshToken: accountvault.SecretBytes(r.RefreshToken),
		IDToken:              accountvault.SecretBytes(r.IDToken),
		AccessTokenExpiresAt: r.AccessTokenExpiresAt, RefreshTokenExpiresAt: r.RefreshTokenExpiresAt,
		Scope: r.Scope, Password: r.Password, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

func (b bareTarget) FindByProvider(ctx context.Context, p, a string) (accountvault.Account, error) {
	r, err := b.b.FindByProvider(ctx, p, a)
	return fromSealed(r), err
}

func (b bareTarget) FindForUser(ctx context.Context, u string) ([]accountvault.Account, error) {
	rows, err := b.b.FindForUser(ctx, u)
	out := make([]accountvault.Account, len(rows))
	for i, r := range rows {
		out[i] = fromSealed(r)
	}
	return out, err
}

func (b bareTarget) Upsert(ctx context.Context, a accountvault.Account) (accountvault.Account, error) {
	r, err := b.b.Upsert(ctx, toSealed(a))
	return fromSealed(r), err
}

func (b bareTarget) VerifyPassword(ctx context.Context, u, pw string) (bool, error) {
	r, err := b.b.FindByProvider(ctx, accountvault.ProviderCredential, u)
	if errors.Is(err, accountvault.ErrNotFound) || (err == nil && r.Password.IsZero()) {
		return false, b.h.VerifyDummy(ctx, pw)
	}
	if err != nil {
		return false, err
	}
	ok, _, err := b.h.Verify(ctx, pw, r.Password.Reveal())
	return ok, err
}
