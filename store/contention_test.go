package store_test

// SQLite under contention from two processes: the test binary re-executes
// itself twice as children that write the same database file through their
// own store (same keyring file, loaded under a master key passed in the
// environment), at the same time.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// Environment of a contention child. The master key travels in its own
// variable, never on a command line.
const (
	contentionChildEnv  = "ACCOUNTVAULT_TEST_CONTENTION_CHILD"  // the child's name: "A" or "B"
	contentionDirEnv    = "ACCOUNTVAULT_TEST_CONTENTION_DIR"    // database, keyring and reports
	contentionMasterEnv = "ACCOUNTVAULT_TEST_CONTENTION_MASTER" // base64 master key of the keyring file
	contentionOpsEnv    = "ACCOUNTVAULT_TEST_CONTENTION_OPS"    // operations per goroutine
	contentionBusyEnv   = "ACCOUNTVAULT_TEST_CONTENTION_BUSY"   // busy timeout in ms; 0: the default
)

const (
	contentionWorkers   = 2 // goroutines per child process
	contentionOwnRows   = 6 // rows per goroutine that only it writes
	contentionShared    = 8 // rows both processes write (goroutine g of each writes rows j with j%workers == g)
	contentionTokenSize = 1 << 10
)

// contentionReport is what a child writes for the parent to check.
type contentionReport struct {
	Name       string
	Start, End int64          // unix nanoseconds of its first and last operation
	Writes     int            // upserts done
	Reads      int            // read-backs of its own rows
	MaxWaitMs  float64        // longest single upsert
	Last       map[string]int // row id -> last version written by this child
}

// contentionVersion makes the versions of the two children distinct: A
// writes even versions, B odd ones.
func contentionVersion(child string, i int) int {
	if child == "A" {
		return 2 * i
	}
	return 2*i + 1
}

func TestSQLiteTwoProcesses(t *testing.T) {
	if name := os.Getenv(contentionChildEnv); name != "" {
		contentionChild(t, name)
		return
	}
	ops := 250
	if testing.Short() {
		ops = 80
	}
	t.Run("busy timeout 1ms (control)", func(t *testing.T) {
		// The same run with a 1 ms busy timeout: SQLITE_BUSY must reach a
		// caller, which shows that the run below would see it too.
		_, _, outs, errs := runContention(t, ops, time.Millisecond)
		busy := 0
		for i := range outs {
			if errs[i] != nil && strings.Contains(outs[i], "[SQLITE_BUSY reached the caller]") {
				busy++
			}
		}
		if busy == 0 {
			t.Fatalf("no child saw SQLITE_BUSY with a 1 ms busy timeout: the writes are not contended (errors %v)", errs)
		}
		t.Logf("%d of 2 children failed with SQLITE_BUSY, as they must", busy)
	})
	t.Run("default busy timeout", func(t *testing.T) {
		testContention(t, ops)
	})
}

// runContention runs the two children on a fresh database with the given
// busy timeout (0: the default) and returns the database's directory, the
// keyring, and each child's output and exit error.
func runContention(t *testing.T, ops int, busy time.Duration) (dir string, k *keyring.Keyring, outs []string, errs []error) {
	t.Helper()
	dir = t.TempDir()
	b, err := sqlite.Open(filepath.Join(dir, "accounts.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	k = genKeyring(t)
	mk, err := keyring.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	master, err := keyring.ParseMasterKey(mk)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.SaveFile(filepath.Join(dir, "keyring.json"), master); err != nil {
		t.Fatal(err)
	}

	names := []string{"A", "B"}
	bufs := make([]strings.Builder, len(names))
	errs = make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		args := []string{"-test.run=^TestSQLiteTwoProcesses$", "-test.count=1", "-test.timeout=5m", "-test.v"}
		if testing.Short() {
			args = append(args, "-test.short")
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(),
			contentionChildEnv+"="+name,
			contentionDirEnv+"="+dir,
			contentionMasterEnv+"="+mk,
			contentionOpsEnv+"="+strconv.Itoa(ops),
			contentionBusyEnv+"="+strconv.FormatInt(busy.Milliseconds(), 10),
		)
		cmd.Stdout, cmd.Stderr = &bufs[i], &bufs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = cmd.Wait()
		}()
	}
	wg.Wait()
	for i := range bufs {
		outs = append(outs, bufs[i].String())
	}
	return dir, k, outs, errs
}

func testContention(t *testing.T, ops int) {
	names := []string{"A", "B"}
	dir, k, outs, errs := runContention(t, ops, 0)
	for i, name := range names {
		if errs[i] != nil {
			// The children print ids, counts and errors, never tokens.
			t.Errorf("child %s: %v\n%s", name, errs[i], outs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	b, err := sqlite.Open(filepath.Join(dir, "accounts.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	reps := make([]contentionReport, len(names))
	for i, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, "report-"+name+".json"))
		if err != nil {
			t.Fatalf("child %s wrote no report: %v", name, err)
		}
		if err := json.Unmarshal(data, &reps[i]); err != nil {
			t.Fatal(err)
		}
		r := reps[i]
		if r.Writes != contentionWorkers*ops {
			t.Fatalf("child %s did %d writes, want %d", name, r.Writes, contentionWorkers*ops)
		}
		el := time.Duration(r.End - r.Start)
		t.Logf("child %s: %d writes and %d read-backs in %v (%.0f writes/s), longest write %.1f ms",
			name, r.Writes, r.Reads, el.Round(time.Millisecond), float64(r.Writes)/el.Seconds(), r.MaxWaitMs)
	}
	// The two processes must really have written at the same time.
	overlap := min(reps[0].End, reps[1].End) - max(reps[0].Start, reps[1].Start)
	if overlap <= 0 {
		t.Fatalf("the children did not run at the same time (overlap %v): nothing was contended", time.Duration(overlap))
	}
	shortest := min(reps[0].End-reps[0].Start, reps[1].End-reps[1].Start)
	t.Logf("the children overlapped for %v (%.0f%% of the shorter run)", time.Duration(overlap).Round(time.Millisecond), 100*float64(overlap)/float64(shortest))

	// Every row written is there and opens with its writer's last value;
	// a shared row holds one of the two writers' last values.
	s := newStore(t, &avtest.Env{Backend: b}, k)
	rep, err := admin(s).Check(ctx, store.WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, failed := rep.Totals(); failed != 0 {
		t.Fatalf("Check: %d values fail to open", failed)
	}
	for _, raw := range rawRows(t, b) {
		rowWholeAtRest(t, raw)
	}
	want := map[string][]int{}
	for _, r := range reps {
		for id, v := range r.Last {
			want[id] = append(want[id], v)
		}
	}
	if rep.Rows != len(want) {
		t.Fatalf("%d rows in the table, %d written", rep.Rows, len(want))
	}
	sharedWon := map[string]int{}
	for id, vs := range want {
		got := mustFind(t, s, "fault", id)
		v := versionOf(got, contentionTokenSize, vs...)
		if v < 0 {
			t.Errorf("row %s holds none of its writers' last values %v", id, vs)
			continue
		}
		if strings.HasPrefix(id, "shared-") {
			if len(vs) != 2 {
				t.Errorf("shared row %s was written by %d children, want 2", id, len(vs))
			}
			sharedWon[map[bool]string{true: "A", false: "B"}[v%2 == 0]]++
		} else if len(vs) != 1 {
			t.Errorf("own row %s was written by %d children", id, len(vs))
		}
	}
	t.Logf("%d rows; the last write to the %d shared rows was A's for %d, B's for %d", len(want), contentionShared, sharedWon["A"], sharedWon["B"])
}

// contentionChild is the child's side: it loads the keyring file, opens the
// database with the default busy timeout, and has its goroutines upsert
// their own rows and their share of the shared rows, reading their own rows
// back now and then. Any error fails the child.
func contentionChild(t *testing.T, name string) {
	dir := os.Getenv(contentionDirEnv)
	ops, err := strconv.Atoi(os.Getenv(contentionOpsEnv))
	if err != nil || dir == "" {
		t.Fatalf("child %s: bad environment", name)
	}
	master, err := keyring.MasterKeyFromEnv(contentionMasterEnv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyring.LoadFile(filepath.Join(dir, "keyring.json"), master)
	if err != nil {
		t.Fatal(err)
	}
	var opts []sqlite.Option // by default DefaultBusyTimeout: 5 s
	if ms, _ := strconv.Atoi(os.Getenv(contentionBusyEnv)); ms > 0 {
		opts = append(opts, sqlite.WithBusyTimeout(time.Duration(ms)*time.Millisecond))
	}
	b, err := sqlite.Open(filepath.Join(dir, "accounts.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	s, err := store.New(b, kekOf(t, k), store.WithPasswordHasher(testHasher(t)))
	if err != nil {
		t.Fatal(err)
	}
	// Both children start together, once both are ready, so that their
	// writes overlap (start-up under the race detector takes a while).
	if err := os.WriteFile(filepath.Join(dir, "ready-"+name), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		_, errA := os.Stat(filepath.Join(dir, "ready-A"))
		_, errB := os.Stat(filepath.Join(dir, "ready-B"))
		if errA == nil && errB == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %s: the other child never got ready", name)
		}
	}

	var mu sync.Mutex
	rep := contentionReport{Name: name, Last: map[string]int{}, Start: time.Now().UnixNano()}
	var wg sync.WaitGroup
	errs := make(chan error, contentionWorkers)
	for g := range contentionWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := map[string]int{}
			user := fmt.Sprintf("user-%s%d", name, g)
			var maxWait time.Duration
			reads := 0
			for i := range ops {
				var id, owner string
				if i%5 < 3 { // 60% own rows
					id, owner = fmt.Sprintf("own-%s%d-%d", name, g, i%contentionOwnRows), user
				} else { // 40% this goroutine's share of the shared rows
					j := g + contentionWorkers*(i%(contentionShared/contentionWorkers))
					id, owner = fmt.Sprintf("shared-%d", j), "shared-user"
				}
				v := contentionVersion(name, i)
				began := time.Now()
				got, err := s.Upsert(ctx, versioned(id, owner, v, contentionTokenSize))
				maxWait = max(maxWait, time.Since(began))
				if err != nil {
					errs <- fmt.Errorf("child %s goroutine %d: Upsert %s (op %d): %w%s", name, g, id, i, err, busyHint(err))
					return
				}
				if !sameVersion(got, v, contentionTokenSize) {
					errs <- fmt.Errorf("child %s: Upsert %s returned other tokens", name, id)
					return
				}
				last[id] = v
				if owner == user && i%4 == 0 {
					got, err := s.FindByProvider(ctx, "fault", id)
					if err != nil {
						errs <- fmt.Errorf("child %s: reading back %s: %w%s", name, id, err, busyHint(err))
						return
					}
					if !sameVersion(got, v, contentionTokenSize) {
						errs <- fmt.Errorf("child %s: row %s does not hold the version just written", name, id)
						return
					}
					reads++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for id, v := range last {
				rep.Last[id] = v
			}
			rep.Writes += ops
			rep.Reads += reads
			rep.MaxWaitMs = max(rep.MaxWaitMs, float64(maxWait.Microseconds())/1000)
		}()
	}
	wg.Wait()
	rep.End = time.Now().UnixNano()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report-"+name+".json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// busyHint flags an error that is SQLite's "database is locked": the busy
// timeout was not honoured.
func busyHint(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked") {
		return " [SQLITE_BUSY reached the caller]"
	}
	return ""
}
