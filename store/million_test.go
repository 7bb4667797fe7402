//go:build linux

package store_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/accountvault/accountvault/backends/postgres"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/internal/pgtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// Environment of TestRewrapMillion.
const (
	envMillion      = "ACCOUNTVAULT_MILLION"         // "1" runs it; a number of rows, that many
	envMillionChild = "ACCOUNTVAULT_MILLION_CHILD"   // the Postgres table, in the child
	envMillionWalk  = "ACCOUNTVAULT_MILLION_WALKERS" // walkers in the child (default 1)
)

// TestRewrapMillion measures a Rewrap of one million rows on Postgres:
// its time and the peak resident set (VmHWM) of the process that runs it.
// It asserts nothing about either (both move with the machine's load) and
// runs only with ACCOUNTVAULT_MILLION=1 (or a number of rows), as it takes
// minutes and writes several GiB:
//
//	ACCOUNTVAULT_MILLION=1 go test -count 1 -timeout 60m -run '^TestRewrapMillion$' -v ./store/
//
// The table is filled with COPY: each row's three 1 KiB random tokens are
// sealed for its place (the associated data binds the table, user,
// provider and account ids, so no sealed value can be reused for another
// row) by one goroutine per processor. A child process (this test binary
// again) then opens the table, runs only Admin.Rewrap onto a new primary
// key in pages of rewrapBatch rows (ACCOUNTVAULT_MILLION_WALKERS=n: n
// concurrent Rewraps over ranges of ids), and reports its peak RSS.
func TestRewrapMillion(t *testing.T) {
	if os.Getenv(envMillionChild) != "" {
		millionChild(t)
		return
	}
	n := 0
	switch v := os.Getenv(envMillion); v {
	case "":
		t.Skipf("set %s=1 to measure a Rewrap of 1,000,000 rows on Postgres (minutes, several GiB)", envMillion)
	case "1":
		n = 1_000_000
	default:
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			t.Fatalf("%s=%q: want 1 or a number of rows", envMillion, v)
		}
	}
	env := avtest.New(t, "postgres")
	k := genKeyring(t)
	start := time.Now()
	copySealed(t, env, kekOf(t, k), n)
	t.Logf("filled %d rows in %v", n, time.Since(start).Round(time.Millisecond))
	pool := pgtest.Pool(t)
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE `+pgx.Identifier{env.Table}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	var size string
	if err := pool.QueryRow(ctx, `SELECT pg_size_pretty(pg_total_relation_size($1))`, env.Table).Scan(&size); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	master, err := keyring.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	aead, err := keyring.ParseMasterKey(master)
	if err != nil {
		t.Fatal(err)
	}
	krPath := filepath.Join(t.TempDir(), "keyring.json")
	if err := k.SaveFile(krPath, aead); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRewrapMillion$", "-test.v", "-test.timeout=0")
	cmd.Env = append(os.Environ(), envMillionChild+"="+env.Table, envRSSKeyring+"="+krPath, envRSSMaster+"="+master)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	res, err := parseRSSResult(stdout.Bytes())
	if err != nil {
		t.Fatalf("child: %v\nstdout:\n%s", err, stdout.Bytes())
	}
	if res["rewritten"] != n || res["failed"] != 0 {
		t.Fatalf("child rewrapped %d of %d rows, %d failed", res["rewritten"], n, res["failed"])
	}
	secs := float64(res["elapsed_ms"]) / 1000
	t.Logf("rows=%d (table %s) walkers=%d: Rewrap took %.1f s (%.0f rows/s); VmHWM %d KiB before Rewrap, %d KiB after",
		n, size, res["walkers"], secs, float64(n)/secs, res["hwm_before_kib"], res["hwm_after_kib"])
}

// copySealed fills env's (Postgres) table with n rows shaped as
// populateSealed's, sealed by one goroutine per processor and written by
// one COPY.
func copySealed(t *testing.T, env *avtest.Env, kek *keyring.KEK, n int) {
	t.Helper()
	created := time.Date(2024, time.May, 6, 7, 8, 9, 0, time.UTC).Unix()
	rows := make(chan []any, 4096)
	errc := make(chan error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var plain envelope.Fields
			for c := range plain {
				plain[c] = make([]byte, 1<<10)
			}
			for i := w; i < n; i += workers {
				p := envelope.Place{
					Table:      env.Table,
					UserID:     fmt.Sprintf("user-%07d", i/len(benchProviders)),
					ProviderID: benchProviders[i%len(benchProviders)],
					AccountID:  fmt.Sprintf("subject-%07d", i),
				}
				for c := range plain {
					rand.Read(plain[c])
				}
				sealed, err := envelope.Seal(kek, p, plain)
				if err != nil {
					errc <- err
					return
				}
				rows <- []any{fmt.Sprintf("acc-%07d", i), p.UserID, p.ProviderID, p.AccountID,
					sealed[envelope.AccessToken], sealed[envelope.RefreshToken], sealed[envelope.IDToken],
					created + 3600, created + 86400, "openid email profile", created, created}
			}
		}()
	}
	go func() { wg.Wait(); close(rows) }()
	src := pgx.CopyFromFunc(func() ([]any, error) {
		select {
		case err := <-errc:
			return nil, err
		case r, ok := <-rows:
			if !ok {
				return nil, nil
			}
			return r, nil
		}
	})
	conn, err := pgtest.Pool(t).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	got, err := conn.Conn().CopyFrom(ctx, pgx.Identifier{env.Table}, []string{"id", "user_id", "provider_id", "account_id",
		"access_token", "refresh_token", "id_token", "access_token_expires_at", "refresh_token_expires_at", "scope",
		"created_at", "updated_at"}, src)
	if err != nil {
		t.Fatalf("COPY: %v", err)
	}
	if got != int64(n) {
		t.Fatalf("COPY wrote %d rows, want %d", got, n)
	}
}

// millionChild is TestRewrapMillion in the child process.
func millionChild(t *testing.T) {
	master, err := keyring.MasterKeyFromEnv(envRSSMaster)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyring.LoadFile(os.Getenv(envRSSKeyring), master)
	if err != nil {
		t.Fatal(err)
	}
	be, err := postgres.Open(ctx, pgtest.URL(), postgres.WithTable(os.Getenv(envMillionChild)))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	s, err := store.New(be, kekOf(t, k), store.WithPasswordHasher(testHasher(t)))
	if err != nil {
		t.Fatal(err)
	}
	walkers := 1
	if v := os.Getenv(envMillionWalk); v != "" {
		if walkers, err = strconv.Atoi(v); err != nil || walkers < 1 {
			t.Fatalf("%s=%q", envMillionWalk, v)
		}
	}
	n, err := be.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, err := vmHWM()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	var mu sync.Mutex
	var rewritten, failed int
	var wg sync.WaitGroup
	for i := range walkers {
		o := store.WalkOptions{BatchSize: rewrapBatch}
		if i > 0 {
			o.After = fmt.Sprintf("acc-%07d", int(n)*i/walkers-1)
		}
		if i < walkers-1 {
			o.Until = fmt.Sprintf("acc-%07d", int(n)*(i+1)/walkers-1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := admin(s).Rewrap(ctx, o)
			if err != nil {
				t.Errorf("Rewrap: %v", err)
			}
			mu.Lock()
			rewritten += rep.Rewritten
			failed += rep.Failed
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(started)
	after, err := vmHWM()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s rewritten=%d failed=%d walkers=%d hwm_before_kib=%d hwm_after_kib=%d elapsed_ms=%d\n",
		rssResult, rewritten, failed, walkers, before, after, elapsed.Milliseconds())
}
