package password

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountvault/accountvault/internal/kdftrace"
)

// TestHashingMemoryWithinCapacity checks what the limiter guarantees: the
// memory that running key derivations hold at once, computed from their
// parameters by the derivation hook (argon2id's m, scrypt's 128·N·r,
// bcrypt's state), never exceeds the limiter's capacity. The storm mixes
// every kind of call: hashes, successful and failed verifications of
// argon2id hashes at, below and above the policy and of bcrypt hashes
// (whose failures add a derivation under the policy), unknown users, and a
// hash that asks for the whole capacity. Each derivation sleeps a little
// inside its slot, so that they overlap. Afterwards the limiter must be
// whole again: no reservation leaked.
func TestHashingMemoryWithinCapacity(t *testing.T) {
	ctx := context.Background()
	pol := Policy{Memory: 512, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := newHasher(t, WithPolicy(pol), WithConcurrency(2))
	capacity := int64(2 * pol.Memory)
	hash := func(m uint32) string {
		s, err := newHasher(t, WithPolicy(Policy{Memory: m, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})).Hash(ctx, "password")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const bcrypt4 = "$2a$04$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba" // "password"
	atPolicy, below, whole := hash(pol.Memory), hash(128), hash(uint32(capacity))
	calls := []func() error{
		func() error { _, err := h.Hash(ctx, "password"); return err },
		func() error { return h.VerifyDummy(ctx, "password") },
	}
	for _, stored := range []string{atPolicy, below, whole, bcrypt4} {
		for _, pw := range []string{"password", "wrong", strings.Repeat("long", 20)} {
			calls = append(calls, func() error { _, _, err := h.Verify(ctx, pw, stored); return err })
		}
	}

	log := watchKDF(t)
	log.OnBegin(func(kdftrace.Call) { time.Sleep(2 * time.Millisecond) })
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(calls))
	for range 2 {
		for _, call := range calls {
			wg.Go(func() { errs <- call() })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d derivations; at most %d at once, holding %d KiB; capacity %d KiB", log.Count(), log.MaxInFlight(), log.MaxLiveKiB(), capacity)
	if got := log.MaxLiveKiB(); got > capacity {
		t.Errorf("derivations held %d KiB at once, above the capacity of %d KiB", got, capacity)
	}
	if log.MaxInFlight() < 2 {
		t.Errorf("at most %d derivation ran at once: the storm did not fill the limiter", log.MaxInFlight())
	}
	if !h.lim.sem.TryAcquire(h.lim.capacity) {
		t.Fatal("the limiter is not whole after the storm: a reservation leaked")
	}
	h.lim.sem.Release(h.lim.capacity)
}

// TestHashingMemoryWithinCapacityScrypt is the same for better-auth scrypt
// hashes (32 MiB each), failed and successful, mixed with argon2id under a
// 16 MiB policy and a capacity of 48 MiB. It is skipped under the race
// detector, which makes scrypt take seconds.
func TestHashingMemoryWithinCapacityScrypt(t *testing.T) {
	if raceEnabled {
		t.Skip("scrypt takes seconds under the race detector")
	}
	ctx := context.Background()
	pol := Policy{Memory: 16 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := newHasher(t, WithPolicy(pol), WithConcurrency(3))
	capacity := int64(3 * pol.Memory)
	v := readVectors(t, "testdata/scrypt-betterauth.txt")[0]
	log := watchKDF(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for _, pw := range []string{v.password, "wrong", v.password, "wrong"} {
		wg.Go(func() { _, _, err := h.Verify(ctx, pw, v.fields[0]); errs <- err })
		wg.Go(func() { errs <- h.VerifyDummy(ctx, pw) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d derivations; at most %d at once, holding %d KiB; capacity %d KiB", log.Count(), log.MaxInFlight(), log.MaxLiveKiB(), capacity)
	if got := log.MaxLiveKiB(); got > capacity {
		t.Errorf("derivations held %d KiB at once, above the capacity of %d KiB", got, capacity)
	}
}

// The peak-RSS measurement re-executes the test binary: VmHWM (the peak
// resident set) can not be reset, so each measurement needs a fresh
// process.
const (
	rssEnv        = "ACCOUNTVAULT_RSS" // "1" runs TestPeakRSS
	rssChildEnv   = "PASSWORD_TEST_RSS_CHILD"
	rssResultLine = "PEAK_RSS_KIB"
	rssStorm      = 64 // concurrent verifies
	rssLimit      = 2  // WithConcurrency

	// GOMEMLIMIT of the first run: the capacity (2 × 64 MiB) plus one
	// computation, as the package documentation advises.
	rssMemLimit = "192MiB"
)

// TestPeakRSS measures, and logs, the peak RSS (VmHWM) of a child process
// that runs 64 concurrent failed verifies of DefaultPolicy hashes under a
// limit of 2: once with GOMEMLIMIT at the capacity plus one computation,
// once with GOGC=100 and no memory limit. It asserts nothing about the
// figure, which moves with the garbage collector's timing and so with the
// machine's load: what the limiter guarantees (live hashing memory within
// its capacity) is asserted by TestHashingMemoryWithinCapacity, and the
// child logs that maximum too. It runs only with ACCOUNTVAULT_RSS=1, and
// not under the race detector:
//
//	ACCOUNTVAULT_RSS=1 go test -count 1 -run '^TestPeakRSS$' -v ./crypto/password
//
// Figures are in BENCHMARKS.md.
func TestPeakRSS(t *testing.T) {
	if os.Getenv(rssEnv) != "1" {
		t.Skip("a measurement, not a test: set " + rssEnv + "=1 to run it")
	}
	if raceEnabled {
		t.Skip("the race detector makes argon2 many times slower and adds its own memory")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status to read VmHWM from")
	}
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"GOMEMLIMIT=" + rssMemLimit, []string{"GOGC=100", "GOMEMLIMIT=" + rssMemLimit}},
		{"GOGC=100", []string{"GOGC=100", "GOMEMLIMIT=off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSChild$", "-test.v")
			cmd.Env = append(os.Environ(), rssChildEnv+"=1")
			cmd.Env = append(cmd.Env, tc.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			m := regexp.MustCompile(rssResultLine + `=(\d+) BASE_KIB=(\d+) LIVE_KIB=(\d+) SECONDS=([0-9.]+)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("child printed no result:\n%s", out)
			}
			peak, _ := strconv.Atoi(string(m[1]))
			base, _ := strconv.Atoi(string(m[2]))
			live, _ := strconv.Atoi(string(m[3]))
			t.Logf("%d failed verifies, limit %d, DefaultPolicy, %s: peak RSS %.1f MiB (%.1f MiB before the storm), live hashing memory at most %.1f MiB, storm %s s",
				rssStorm, rssLimit, tc.name, float64(peak)/1024, float64(base)/1024, float64(live)/1024, m[4])
		})
	}
}

// TestPeakRSSChild is the child of TestPeakRSS; it skips unless run by it.
func TestPeakRSSChild(t *testing.T) {
	if os.Getenv(rssChildEnv) != "1" {
		t.Skip("run by TestPeakRSS")
	}
	ctx := context.Background()
	h := newHasher(t, WithPolicy(DefaultPolicy()), WithConcurrency(rssLimit))
	// One stored hash, with the policy's parameters, made without hashing
	// so that the baseline below is the process before any argon2 work.
	stored := h.dummy.encode()
	log := watchKDF(t)
	base := vmHWM(t)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, rssStorm)
	for range rssStorm {
		wg.Go(func() {
			_, _, err := h.Verify(ctx, "password", stored)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("%s=%d BASE_KIB=%d LIVE_KIB=%d SECONDS=%.1f\n", rssResultLine, vmHWM(t), base, log.MaxLiveKiB(), time.Since(start).Seconds())
}

func vmHWM(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return kib
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}
