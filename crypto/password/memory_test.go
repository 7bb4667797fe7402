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
)

// The peak-memory test re-executes the test binary: VmHWM (the peak
// resident set) can not be reset, so each measurement needs a fresh
// process.
const (
	rssChildEnv   = "PASSWORD_TEST_RSS_CHILD"
	rssResultLine = "PEAK_RSS_KIB"
	rssStorm      = 64 // concurrent verifies
	rssLimit      = 2  // WithConcurrency
	rssPolicyMiB  = 64 // DefaultPolicy.Memory

	// The margin over rssLimit × rssPolicyMiB: one finished hash's memory,
	// garbage until the collector runs (the next hash allocates its own
	// before that), plus the runtime and the test binary (about 4 MiB
	// before the storm).
	rssGarbageMiB = rssPolicyMiB
	rssRuntimeMiB = 16
	rssBoundMiB   = rssLimit*rssPolicyMiB + rssGarbageMiB + rssRuntimeMiB // 208

	// GOMEMLIMIT of the asserted run: the capacity plus one computation,
	// as the package documentation advises. (160MiB gives the same peak
	// but makes the collector work harder: the storm took 13-16 s against
	// 9-12 s.)
	rssMemLimit = "192MiB"
)

// TestPeakRSS runs 64 concurrent verifies of DefaultPolicy hashes under a
// limit of 2 in a child process and reads its peak RSS (VmHWM).
//
// The limiter bounds the memory that hash computations hold at once to
// 2 × 64 MiB. The process holds more: each computation allocates its 64 MiB
// afresh (x/crypto/argon2 takes no buffer), and the memory of finished ones
// stays on the heap until the collector runs. With the collector kept close
// to the live heap (GOMEMLIMIT at the capacity plus one computation, as the
// package documentation advises), the peak is one computation more than the
// limit: asserted under 2 × 64 + 64 + 16 = 208 MiB. With the default GOGC=100 the
// heap grows to about twice what is live: measured and logged, and asserted
// only under 2 × (2 × 64) + 64 = 320 MiB.
//
// Measured on the 2-core development machine: 197.6 to 197.8 MiB with
// GOMEMLIMIT=192MiB (the same with 160MiB, GOGC=25 or GOGC=50), 262.1 to
// 262.4 MiB with GOGC=100.
func TestPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the storm takes 5 to 30 s")
	}
	if raceEnabled {
		t.Skip("the race detector makes argon2 many times slower and adds its own memory")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status to read VmHWM from")
	}
	for _, tc := range []struct {
		name     string
		env      []string
		boundMiB int
	}{
		{"GOMEMLIMIT=" + rssMemLimit, []string{"GOGC=100", "GOMEMLIMIT=" + rssMemLimit}, rssBoundMiB},
		{"GOGC=100", []string{"GOGC=100", "GOMEMLIMIT=off"}, 2*rssLimit*rssPolicyMiB + rssPolicyMiB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSChild$", "-test.v")
			cmd.Env = append(os.Environ(), rssChildEnv+"=1")
			cmd.Env = append(cmd.Env, tc.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			m := regexp.MustCompile(rssResultLine + `=(\d+) BASE_KIB=(\d+) SECONDS=([0-9.]+)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("child printed no result:\n%s", out)
			}
			peak, _ := strconv.Atoi(string(m[1]))
			base, _ := strconv.Atoi(string(m[2]))
			t.Logf("%d verifies, limit %d, DefaultPolicy, %s: peak RSS %.1f MiB (%.1f MiB before the storm), storm %s s; bound %d MiB",
				rssStorm, rssLimit, tc.name, float64(peak)/1024, float64(base)/1024, m[3], tc.boundMiB)
			if peak > tc.boundMiB<<10 {
				t.Errorf("peak RSS %.1f MiB above %d MiB", float64(peak)/1024, tc.boundMiB)
			}
		})
	}
}

// TestPeakRSSChild is the child of TestPeakRSS; it skips unless run by it.
func TestPeakRSSChild(t *testing.T) {
	if os.Getenv(rssChildEnv) != "1" {
		t.Skip("run by TestPeakRSS")
	}
	ctx := context.Background()
	h := newHasher(t, WithPolicy(DefaultPolicy), WithConcurrency(rssLimit))
	// One stored hash, with the policy's parameters, made without hashing
	// so that the baseline below is the process before any argon2 work.
	stored := h.dummy
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
	fmt.Printf("%s=%d BASE_KIB=%d SECONDS=%.1f\n", rssResultLine, vmHWM(t), base, time.Since(start).Seconds())
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
