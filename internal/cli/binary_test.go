package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/pgtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// buildBinary builds the command once per test run, without the race
// detector (its SQLite would be ten times slower), and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "accountvault-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "accountvault")
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		out, err := exec.Command(goTool, "build", "-o", binPath, "../../cmd/accountvault").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func removeBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// cliEnv runs the built binary with a master key and keyring file of its
// own.
type cliEnv struct {
	t       *testing.T
	bin     string
	dir     string
	env     []string
	master  tink.AEAD
	keyring string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	mk, err := keyring.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	master, err := keyring.ParseMasterKey(mk)
	if err != nil {
		t.Fatal(err)
	}
	e := &cliEnv{t: t, bin: buildBinary(t), dir: t.TempDir(), master: master}
	e.keyring = filepath.Join(e.dir, "keyring.json")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ACCOUNTVAULT_") {
			e.env = append(e.env, kv)
		}
	}
	e.env = append(e.env, "ACCOUNTVAULT_MASTER_KEY="+mk, "ACCOUNTVAULT_KEYRING="+e.keyring)
	return e
}

func (e *cliEnv) save(k *keyring.Keyring) {
	e.t.Helper()
	if err := k.SaveFile(e.keyring, e.master); err != nil {
		e.t.Fatal(err)
	}
}

func (e *cliEnv) command(args ...string) *exec.Cmd {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.env
	cmd.Dir = e.dir
	return cmd
}

// run runs the binary to completion and returns its output and exit code.
func (e *cliEnv) run(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	cmd := e.command(args...)
	var o, er bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &er
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("accountvault %s: %v", args[0], err)
	}
	return o.String(), er.String(), code
}

// mustRun runs the binary and fails the test unless it exits 0.
func (e *cliEnv) mustRun(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("accountvault %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// checkJSON runs 'check --json' and decodes its report.
func (e *cliEnv) checkJSON(db, table string) checkResult {
	e.t.Helper()
	out := e.mustRun("check", "--db", db, "--table", table, "--json")
	var r checkResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		e.t.Fatalf("check --json: %v", err)
	}
	return r
}

func keyValues(r checkResult, id uint32) int {
	for _, k := range r.Keys {
		if k.ID == id {
			return k.Values
		}
	}
	return 0
}

// seedSealed writes accounts 0..n-1 (tag "seed") sealed under k's primary
// key into a new SQLite table, with envelope.Seal and one transaction:
// much faster than n upserts under the race detector.
func seedSealed(t *testing.T, ctx context.Context, db, table string, k *keyring.Keyring, n int) {
	t.Helper()
	_, d, err := openStore(ctx, db, table, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.backend.Close(); err != nil {
		t.Fatal(err)
	}
	kek, err := k.KEK()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := openRawDB(db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() // after Commit, a no-op
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO `+quote(table)+` (id, user_id, provider_id, account_id, access_token, refresh_token, id_token, scope, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	for i := range n {
		a := seedAccount(i, "seed")
		plain := envelope.Fields{[]byte(a.AccessToken.Reveal()), []byte(a.RefreshToken.Reveal()), []byte(a.IDToken.Reveal())}
		f, err := envelope.Seal(kek, envelope.Place{Table: table, UserID: a.UserID, ProviderID: a.ProviderID, AccountID: a.AccountID}, plain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stmt.ExecContext(ctx, a.ID, a.UserID, a.ProviderID, a.AccountID,
			nilIfEmpty(f[0]), nilIfEmpty(f[1]), nilIfEmpty(f[2]), a.Scope, now, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Leave everything in the main file, so that copying it copies all.
	if _, err := raw.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// verifyAll requires every row of the table to open through a store over k
// with the tokens want returns for its index, and the table to hold
// exactly n rows.
func verifyAll(t *testing.T, ctx context.Context, db, table string, k *keyring.Keyring, n int, want func(i int) accountvault.Account) {
	t.Helper()
	s, d, err := openStore(ctx, db, table, k)
	if err != nil {
		t.Fatal(err)
	}
	defer d.backend.Close()
	seen, after := 0, ""
	for {
		rows, err := s.List(ctx, after, 1000)
		if err != nil {
			t.Fatalf("listing after %q: %v", after, err)
		}
		if len(rows) == 0 {
			break
		}
		for _, r := range rows {
			i, err := strconv.Atoi(strings.TrimPrefix(r.ID, "acc_"))
			if err != nil {
				t.Fatalf("unexpected row id %q", r.ID)
			}
			if w := want(i); r.UserID != w.UserID || !sameTokens(r, w) {
				t.Fatalf("row %s: tokens are not those last written (lengths %d/%d/%d, want %d/%d/%d)", r.ID,
					r.AccessToken.Len(), r.RefreshToken.Len(), r.IDToken.Len(), w.AccessToken.Len(), w.RefreshToken.Len(), w.IDToken.Len())
			}
			seen++
			after = r.ID
		}
	}
	if seen != n {
		t.Fatalf("table holds %d rows, want %d", seen, n)
	}
}

// keyUsage counts the values per key id, by parsing only.
func keyUsage(t *testing.T, ctx context.Context, db, table string, k *keyring.Keyring) map[uint32]int {
	t.Helper()
	s, d, err := openStore(ctx, db, table, k)
	if err != nil {
		t.Fatal(err)
	}
	defer d.backend.Close()
	u, err := store.NewAdmin(s).KeyUsage(ctx, store.WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// startWalk starts the binary and returns it once its stderr shows a
// "rewrap: N rows seen" line with N >= minSeen. The rest of stderr is
// collected into the returned buffer once the process has exited (call
// wait).
func startWalk(t *testing.T, e *cliEnv, minSeen int, args ...string) (cmd *exec.Cmd, seenAt int, wait func() (string, error)) {
	t.Helper()
	return startWalkAt(t, e, "rewrap", minSeen, args...)
}

// startWalkAt is startWalk waiting for a "LABEL: N rows seen" line.
func startWalkAt(t *testing.T, e *cliEnv, label string, minSeen int, args ...string) (cmd *exec.Cmd, seenAt int, wait func() (string, error)) {
	t.Helper()
	cmd = e.command(args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var rest strings.Builder
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(label) + `: (\d+) rows seen`)
	sc := bufio.NewScanner(stderr)
	seenAt = -1
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			n, err := strconv.Atoi(m[1])
			if err != nil {
				t.Fatal(err)
			}
			if n >= minSeen {
				seenAt = n
				break
			}
		}
	}
	return cmd, seenAt, func() (string, error) {
		_, cerr := io.Copy(&rest, stderr)
		err := cmd.Wait()
		if cerr != nil && err == nil {
			err = cerr
		}
		return rest.String() + stdout.String(), err
	}
}

// template is a SQLite database of templateRows accounts sealed under the
// primary key of a keyring, built once and copied by the tests that need a
// large table.
var template struct {
	once sync.Once
	dir  string
	k    *keyring.Keyring
	err  error
}

const templateRows = 20_000

func seededCopy(t *testing.T, e *cliEnv) (db string, k *keyring.Keyring) {
	t.Helper()
	template.once.Do(func() {
		template.dir, template.err = os.MkdirTemp("", "accountvault-template-")
		if template.err != nil {
			return
		}
		template.k, template.err = keyring.Generate()
		if template.err != nil {
			return
		}
		template.err = errors.New("seeding the template database failed")
		seedSealed(t, context.Background(), filepath.Join(template.dir, "av.db"), "accounts", template.k, templateRows)
		template.err = nil // seedSealed did not stop the test
	})
	if template.err != nil {
		t.Fatal(template.err)
	}
	data, err := os.ReadFile(filepath.Join(template.dir, "av.db"))
	if err != nil {
		t.Fatal(err)
	}
	db = filepath.Join(e.dir, "av.db")
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return db, template.k.Clone()
}

func removeTemplate() {
	if template.dir != "" {
		os.RemoveAll(template.dir)
	}
}

// TestRewrapSurvivesKill9 kills a rewrap with SIGKILL in the middle of the
// table, runs it again, and requires every row on the primary key, every
// row opening with its tokens, and the row count unchanged.
func TestRewrapSurvivesKill9(t *testing.T) {
	ctx := context.Background()
	e := newCLIEnv(t)
	start := time.Now()
	db, k := seededCopy(t, e)
	t.Logf("built and seeded in %v", time.Since(start))
	oldKey := k.Primary()
	newKey, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	e.save(k)

	cmd, seenAt, wait := startWalk(t, e, 2000, "rewrap", "--db", db, "--batch", "100", "--progress-interval", "0")
	if seenAt < 0 {
		out, err := wait()
		t.Fatalf("rewrap printed no progress (%v):\n%s", err, out)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	out, err := wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("rewrap: %v, want killed by SIGKILL:\n%s", err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("rewrap was not killed by SIGKILL (it finished first: %v):\n%s", err, out)
	}
	u := keyUsage(t, ctx, db, "accounts", k)
	if u[oldKey] == 0 || u[newKey] == 0 {
		t.Fatalf("after the kill at %d rows seen, old key has %d values and new key %d: want the walk cut in the middle", seenAt, u[oldKey], u[newKey])
	}
	t.Logf("killed after %d rows seen: %d values on the old key, %d on the new", seenAt, u[oldKey], u[newKey])

	start = time.Now()
	e.mustRun("rewrap", "--db", db, "--batch", "500")
	r := e.checkJSON(db, "accounts")
	t.Logf("rewrap and check in %v", time.Since(start))
	if r.Rows != templateRows || r.Totals.Failed != 0 || r.Totals.Legacy != 0 {
		t.Fatalf("check: %d rows, %d failed, %d legacy; want %d, 0, 0", r.Rows, r.Totals.Failed, r.Totals.Legacy, templateRows)
	}
	if v := keyValues(r, oldKey); v != 0 {
		t.Fatalf("check: old key %d still names %d values", oldKey, v)
	}
	if v := keyValues(r, newKey); v != r.Totals.Sealed {
		t.Fatalf("check: new key %d names %d of %d values", newKey, v, r.Totals.Sealed)
	}
	start = time.Now()
	verifyAll(t, ctx, db, "accounts", k, templateRows, func(i int) accountvault.Account { return seedAccount(i, "seed") })
	t.Logf("verified in %v", time.Since(start))
}

// TestRewrapInterrupt sends SIGINT to a rewrap in the middle of the table:
// it must finish the batch in hand, print the cursor, exit 130, and resume
// from the cursor with --after.
func TestRewrapInterrupt(t *testing.T) {
	ctx := context.Background()
	e := newCLIEnv(t)
	db, k := seededCopy(t, e)
	oldKey := k.Primary()
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	e.save(k)
	const batch = 50
	cmd, seenAt, wait := startWalk(t, e, 500, "rewrap", "--db", db, "--batch", strconv.Itoa(batch), "--progress-interval", "0")
	if seenAt < 0 {
		out, err := wait()
		t.Fatalf("rewrap printed no progress (%v):\n%s", err, out)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	out, err := wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("rewrap after SIGINT: %v, want exit %d:\n%s", err, exitInterrupted, out)
	}
	m := regexp.MustCompile(`rewrap: interrupted: (\d+) rows seen, (\d+) rewrapped`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no interruption summary:\n%s", out)
	}
	seen, _ := strconv.Atoi(m[1])
	if seen%batch != 0 || seen >= templateRows {
		t.Fatalf("stopped after %d rows: want a whole number of %d-row batches, before the end", seen, batch)
	}
	cursor := fmt.Sprintf("acc_%06d", seen-1)
	if !strings.Contains(out, fmt.Sprintf("stopped after row %q", cursor)) {
		t.Fatalf("the cursor %q is not printed:\n%s", cursor, out)
	}
	if u := keyUsage(t, ctx, db, "accounts", k); u[oldKey] == 0 {
		t.Fatalf("interrupted at %d rows, yet no value is left on the old key", seen)
	}
	out = e.mustRun("rewrap", "--db", db, "--after", cursor)
	if want := fmt.Sprintf("%d rows seen", templateRows-seen); !strings.Contains(out, want) {
		t.Fatalf("resumed rewrap: want %q:\n%s", want, out)
	}
	if v := keyValues(e.checkJSON(db, "accounts"), oldKey); v != 0 {
		t.Fatalf("after resuming, old key %d still names %d values", oldKey, v)
	}
}

// TestRewrapInterruptBeforeWalk sends SIGINT to a rewrap while it is still
// counting the values per key, before it writes anything: it must say that
// no row was changed, exit 130, and leave every value on the old key.
func TestRewrapInterruptBeforeWalk(t *testing.T) {
	ctx := context.Background()
	e := newCLIEnv(t)
	db, k := seededCopy(t, e)
	oldKey := k.Primary()
	newKey, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	e.save(k)
	// --batch 10: the count of 20,000 rows takes 2,000 batches, so the
	// signal arrives well before its end.
	cmd, seenAt, wait := startWalkAt(t, e, "scan", 100, "rewrap", "--db", db, "--batch", "10", "--progress-interval", "0")
	if seenAt < 0 {
		out, err := wait()
		t.Fatalf("rewrap printed no scan progress (%v):\n%s", err, out)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	out, err := wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("rewrap after SIGINT: %v, want exit %d:\n%s", err, exitInterrupted, out)
	}
	if !strings.Contains(out, "rewrap: interrupted before any row was changed") {
		t.Fatalf("no interruption summary:\n%s", out)
	}
	if strings.Contains(out, "rewrap: interrupted:") || strings.Contains(out, "rewrapped") || strings.Contains(out, "rewrap: done") {
		t.Fatalf("the rewrap walk started:\n%s", out)
	}
	u := keyUsage(t, ctx, db, "accounts", k)
	if u[newKey] != 0 || u[oldKey] == 0 {
		t.Fatalf("interrupted while counting, yet %d values are on the new key (%d on the old)", u[newKey], u[oldKey])
	}
}

// TestRewrapConcurrentWriters runs rewrap while writers upsert fresh tokens
// into rows: afterwards every row holds the tokens last written to it, and
// every value is on the new key.
func TestRewrapConcurrentWriters(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		e := newCLIEnv(t)
		testConcurrentWriters(t, e, filepath.Join(e.dir, "av.db"), "accounts", 2000, true)
	})
	t.Run("postgres", func(t *testing.T) {
		testConcurrentWriters(t, newCLIEnv(t), pgtest.URL(), pgtest.Table(t), 1500, false)
	})
}

func testConcurrentWriters(t *testing.T, e *cliEnv, db, table string, n int, raw bool) {
	ctx := context.Background()
	k, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	e.save(k)
	oldKey := k.Primary()
	start := time.Now()
	if raw {
		seedSealed(t, ctx, db, table, k, n)
	} else {
		seedParallel(t, ctx, db, table, k, n)
	}
	t.Logf("seeded %d rows in %v", n, time.Since(start))
	newKey, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	e.save(k)

	s, d, err := openStore(ctx, db, table, k)
	if err != nil {
		t.Fatal(err)
	}
	defer d.backend.Close()

	const writers = 4
	last := make([]map[int]string, writers) // writer -> row -> tag of its last write
	var (
		stop     atomic.Bool
		running  atomic.Bool // set while rewrap runs
		during   atomic.Int64
		wg       sync.WaitGroup
		writeErr = make(chan error, writers)
	)
	cmd := e.command("rewrap", "--db", db, "--table", table, "--batch", "20")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	for w := range writers {
		last[w] = map[int]string{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 1))
			for seq := 0; !stop.Load(); seq++ {
				i := rnd.IntN(n/writers)*writers + w // rows i ≡ w (mod writers) are this writer's
				tag := fmt.Sprintf("w%d-%d", w, seq)
				if _, err := s.Upsert(ctx, seedAccount(i, tag)); err != nil {
					writeErr <- fmt.Errorf("writer %d, row %d: %w", w, i, err)
					return
				}
				last[w][i] = tag
				if running.Load() {
					during.Add(1)
				}
				// Leave the rewrap process its share of SQLite's one
				// write lock.
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}
	running.Store(true)
	start = time.Now()
	err = cmd.Run()
	running.Store(false)
	t.Logf("rewrap ran %v", time.Since(start))
	stop.Store(true)
	wg.Wait()
	close(writeErr)
	for err := range writeErr {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("rewrap: %v\n%s", err, out.String())
	}
	if during.Load() == 0 {
		t.Fatal("no write happened while rewrap ran")
	}
	conflicts := regexp.MustCompile(`(\d+) changed concurrently`).FindStringSubmatch(out.String())
	t.Logf("%d writes during rewrap; rewrap: %s rows changed concurrently", during.Load(), conflicts[1])

	r := e.checkJSON(db, table)
	if r.Totals.Failed != 0 || keyValues(r, oldKey) != 0 || keyValues(r, newKey) != r.Totals.Sealed {
		t.Fatalf("check: %d failed, old key %d values, new key %d of %d values", r.Totals.Failed, keyValues(r, oldKey), keyValues(r, newKey), r.Totals.Sealed)
	}
	verifyAll(t, ctx, db, table, k, n, func(i int) accountvault.Account {
		if tag, ok := last[i%writers][i]; ok {
			return seedAccount(i, tag)
		}
		return seedAccount(i, "seed")
	})
}

// seedParallel upserts accounts 0..n-1 through the store with a few
// goroutines (Postgres takes concurrent writers).
func seedParallel(t *testing.T, ctx context.Context, db, table string, k *keyring.Keyring, n int) {
	t.Helper()
	s, d, err := openStore(ctx, db, table, k)
	if err != nil {
		t.Fatal(err)
	}
	defer d.backend.Close()
	const workers = 8
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if _, err := s.Upsert(ctx, seedAccount(i, "seed")); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
