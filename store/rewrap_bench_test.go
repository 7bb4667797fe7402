//go:build linux

package store_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/internal/pgtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// Rewrap throughput and memory.
//
// BenchmarkRewrap compares one full Store.Rewrap pass (every row's data key
// unwrapped with the old key and wrapped with the new primary, written back
// by CompareAndSwap; impl=rewrap) with bare walks doing its SQL work
// without crypto: pages of rewrapBatch rows through Backend.List and one
// Backend.CompareAndSwap per row, writing the row back unchanged
// (impl=walk) or with one byte of each token changed (impl=walkdirty), or
// with each page's swaps in one transaction (impl=walktx: what a batched
// CompareAndSwap could reach). Each side has its own table of the same
// number of sealed rows. One iteration is one pass over all the rows; the
// rows/s metric is the pass's rate, cpu-ns/row the process's CPU time per
// row.
//
//	for i in $(seq 10); do
//		go test -p 1 -run '^$' -bench 'Rewrap/db=sqlite' -benchtime 1x -benchmem -count 1 ./store/
//	done | tee /tmp/av/bench-rewrap.txt
//	benchstat -col /impl /tmp/av/bench-rewrap.txt
//
// The number of rows is 100,000 unless ACCOUNTVAULT_BENCH_REWRAP_ROWS says
// otherwise. Every pass of the rewrap side rewraps every row: before each
// one (outside the timer) the store's keyring promotes the key that the
// rows are not on, and the store reloads it.
//
// TestRewrapPeakRSS (skipped unless ACCOUNTVAULT_RSS=1) measures the peak
// resident set of a process that runs only Rewrap over 10,000 and then
// 100,000 rows:
//
//	ACCOUNTVAULT_RSS=1 go test -count 1 -run '^TestRewrapPeakRSS$' -v ./store/

// rewrapBatch is the page size of every side of BenchmarkRewrap.
const rewrapBatch = 500

// EnvRewrapRows overrides the number of rows of BenchmarkRewrap.
const EnvRewrapRows = "ACCOUNTVAULT_BENCH_REWRAP_ROWS"

func rewrapRows(tb testing.TB) int {
	s := os.Getenv(EnvRewrapRows)
	if s == "" {
		return 100_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive number of rows", EnvRewrapRows, s)
	}
	return n
}

func BenchmarkRewrap(b *testing.B) {
	n := rewrapRows(b)
	for _, kind := range avtest.Kinds {
		b.Run("db="+kind, func(b *testing.B) {
			walks := []struct {
				name  string
				dirty bool
				tx    bool
			}{{"impl=walk", false, false}, {"impl=walkdirty", true, false}, {"impl=walktx", true, true}}
			for _, w := range walks {
				b.Run(w.name, func(b *testing.B) {
					env := avtest.New(b, kind)
					k := genKeyring(b)
					populateSealed(b, env, kekOf(b, k), n)
					var swap pageSwapper
					if w.tx {
						swap = newTxSwapper(b, env)
					}
					b.ReportAllocs()
					var cpu time.Duration
					for b.Loop() {
						cpu0 := cpuTime(b, syscall.RUSAGE_SELF)
						walked, err := bareWalk(ctx, env.Backend, rewrapBatch, w.dirty, swap)
						if err != nil {
							b.Fatalf("walk: %v", err)
						}
						if walked != n {
							b.Fatalf("walk rewrote %d rows, want %d", walked, n)
						}
						cpu += cpuTime(b, syscall.RUSAGE_SELF) - cpu0
					}
					reportRows(b, n, cpu)
				})
			}
			// impl=rewrap-perrow is Rewrap as it was before batching: the
			// backend's BatchSwapper hidden, one CompareAndSwap per row.
			b.Run("impl=rewrap-perrow", func(b *testing.B) { benchRewrap(b, kind, n, 1, true) })
			b.Run("impl=rewrap", func(b *testing.B) { benchRewrap(b, kind, n, 1, false) })
			for _, w := range []int{2, 4} {
				b.Run(fmt.Sprintf("impl=rewrap-walkers=%d", w), func(b *testing.B) { benchRewrap(b, kind, n, w, false) })
			}
		})
	}
}

// perRow hides a backend's BatchSwapper: the store then writes one
// CompareAndSwap per row.
type perRow struct {
	accountvault.Backend
	accountvault.Metadata
}

func (p perRow) Table() string { return p.Backend.(accountvault.TableNamer).Table() }

// benchRewrap measures full Rewrap passes over n rows by walkers
// concurrent Rewraps, each over its own range of ids (the rows' ids are
// acc-0000000 to acc-<n-1>, so the ranges split them evenly).
func benchRewrap(b *testing.B, kind string, n, walkers int, hideBatch bool) {
	env := avtest.New(b, kind)
	k := genKeyring(b)
	populateSealed(b, env, kekOf(b, k), n)
	other, err := k.Stage()
	if err != nil {
		b.Fatalf("Stage: %v", err)
	}
	be := env.Backend
	if hideBatch {
		be = perRow{be, be.(accountvault.Metadata)}
	}
	s, err := store.New(be, kekOf(b, k), store.WithTable(env.Table), store.WithPasswordHasher(testHasher(b)))
	if err != nil {
		b.Fatal(err)
	}
	ranges := make([]store.WalkOptions, walkers)
	for i := range ranges {
		ranges[i].BatchSize = rewrapBatch
		if i > 0 {
			ranges[i].After = ranges[i-1].Until
		}
		if i < walkers-1 {
			ranges[i].Until = fmt.Sprintf("acc-%07d", (i+1)*n/walkers-1)
		}
	}
	b.ReportAllocs()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		on := k.Primary()
		if err := k.Promote(other); err != nil {
			b.Fatalf("Promote: %v", err)
		}
		reload(b, s, k)
		other = on
		b.StartTimer()
		cpu0 := cpuTime(b, syscall.RUSAGE_SELF)
		reps := make([]store.RewrapReport, walkers)
		errs := make([]error, walkers)
		var wg sync.WaitGroup
		for i := range ranges {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reps[i], errs[i] = admin(s).Rewrap(ctx, ranges[i])
			}()
		}
		wg.Wait()
		cpu += cpuTime(b, syscall.RUSAGE_SELF) - cpu0
		var seen, rewritten int
		for i, rep := range reps {
			if errs[i] != nil || rep.Failed != 0 || rep.Conflicts != 0 {
				b.Fatalf("Rewrap of range %d: %+v, %v", i, rep.Progress, errs[i])
			}
			seen += rep.Seen
			rewritten += rep.Rewritten
		}
		if rewritten != n || seen != n {
			b.Fatalf("Rewrap: seen %d, rewritten %d; want %d rewritten", seen, rewritten, n)
		}
	}
	reportRows(b, n, cpu)
}

// reportRows adds the metrics of a benchmark whose iterations are passes
// over n rows: rows/s (wall clock), and the process's CPU time per row,
// the collector's background work included (on Postgres, the client's
// part only).
func reportRows(b *testing.B, n int, cpu time.Duration) {
	rows := float64(n) * float64(b.N)
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/rows, "cpu-ns/row")
}

// bareWalk is Rewrap's SQL work without its crypto: it pages through the
// table in id order and writes every row back by CompareAndSwap. It
// returns the number of rows written.
//
// With dirty false, the row is written back unchanged. SQLite then writes
// no page at all (its b-tree skips overwriting a cell with identical
// bytes), so that walk costs SQLite less I/O than any real rewrite. With
// dirty true, one byte of each token (in the wrapped data key's place) is
// flipped, as a rewrap changes each token's header: the same statements
// and the same page writes as Rewrap, without its crypto.
//
// If swap is not nil, each page's writes go through it (one transaction
// per page) instead of one Backend.CompareAndSwap call per row.
func bareWalk(ctx context.Context, be accountvault.Backend, batch int, dirty bool, swap pageSwapper) (int, error) {
	n := 0
	after := ""
	var news []accountvault.SealedRow
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		rows, err := be.List(ctx, after, batch)
		if err != nil {
			return n, err
		}
		if len(rows) == 0 {
			return n, nil
		}
		news = news[:0]
		for _, r := range rows {
			w := r
			if dirty {
				w.AccessToken, w.RefreshToken, w.IDToken = flipByte(r.AccessToken), flipByte(r.RefreshToken), flipByte(r.IDToken)
			}
			news = append(news, w)
		}
		if swap != nil {
			if err := swap.swapPage(ctx, rows, news); err != nil {
				return n, err
			}
			n += len(rows)
		} else {
			for i, r := range rows {
				if err := be.CompareAndSwap(ctx, r, news[i]); err != nil {
					return n, fmt.Errorf("row %q: %w", r.ID, err)
				}
				n++
			}
		}
		after = rows[len(rows)-1].ID
	}
}

// A pageSwapper writes a page of compare-and-swaps (olds[i] to news[i]) in
// one transaction. It is what a batched CompareAndSwap in the backends
// could do; it exists only to measure that.
type pageSwapper interface {
	swapPage(ctx context.Context, olds, news []accountvault.SealedRow) error
}

// newTxSwapper returns a pageSwapper over env's table through its own
// connection, running the backend's CompareAndSwap statement (copied from
// backends/sqlite and backends/postgres, password and user columns left
// out of the comparison as the rows have none to change) once per row.
func newTxSwapper(b *testing.B, env *avtest.Env) pageSwapper {
	b.Helper()
	switch env.Name {
	case "sqlite":
		// The pragmas of sqlite.Open.
		db, err := sql.Open("sqlite", "file:"+env.DBFile+
			"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
		if err != nil {
			b.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		b.Cleanup(func() { db.Close() })
		return sqliteSwapper{db, `UPDATE "` + env.Table + `" SET
			access_token = ?, refresh_token = ?, id_token = ?, updated_at = ?
		WHERE id = ? AND user_id = ? AND provider_id = ? AND account_id = ?
			AND CAST(COALESCE(access_token, X'') AS BLOB) = CAST(COALESCE(?, X'') AS BLOB)
			AND CAST(COALESCE(refresh_token, X'') AS BLOB) = CAST(COALESCE(?, X'') AS BLOB)
			AND CAST(COALESCE(id_token, X'') AS BLOB) = CAST(COALESCE(?, X'') AS BLOB)`}
	case "postgres":
		return pgSwapper{pgtest.Pool(b), `UPDATE ` + pgx.Identifier{env.Table}.Sanitize() + ` SET
				access_token = $1, refresh_token = $2, id_token = $3, updated_at = $4
			WHERE id = $5 AND user_id = $6 AND provider_id = $7 AND account_id = $8
				AND COALESCE(access_token, '\x'::bytea) = COALESCE($9::bytea, '\x'::bytea)
				AND COALESCE(refresh_token, '\x'::bytea) = COALESCE($10::bytea, '\x'::bytea)
				AND COALESCE(id_token, '\x'::bytea) = COALESCE($11::bytea, '\x'::bytea)`}
	}
	b.Fatalf("no pageSwapper for %q", env.Name)
	return nil
}

func swapArgs(old, new *accountvault.SealedRow) []any {
	return []any{
		new.AccessToken, new.RefreshToken, new.IDToken, new.UpdatedAt.Unix(),
		old.ID, old.UserID, old.ProviderID, old.AccountID,
		old.AccessToken, old.RefreshToken, old.IDToken,
	}
}

type sqliteSwapper struct {
	db  *sql.DB
	cas string
}

func (s sqliteSwapper) swapPage(ctx context.Context, olds, news []accountvault.SealedRow) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	st, err := tx.PrepareContext(ctx, s.cas)
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range olds {
		res, err := st.ExecContext(ctx, swapArgs(&olds[i], &news[i])...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("row %q: %d rows swapped (%v)", olds[i].ID, n, err)
		}
	}
	return tx.Commit()
}

type pgSwapper struct {
	pool *pgxpool.Pool
	cas  string
}

func (s pgSwapper) swapPage(ctx context.Context, olds, news []accountvault.SealedRow) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback(ctx))
		}
	}()
	var batch pgx.Batch
	for i := range olds {
		batch.Queue(s.cas, swapArgs(&olds[i], &news[i])...)
	}
	br := tx.SendBatch(ctx, &batch)
	for i := range olds {
		tag, err := br.Exec()
		if err != nil {
			return errors.Join(err, br.Close())
		}
		if tag.RowsAffected() != 1 {
			return errors.Join(fmt.Errorf("row %q: %d rows swapped", olds[i].ID, tag.RowsAffected()), br.Close())
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// flipByte returns a copy of v with its byte at offset flipOffset (or its
// last byte, in a shorter value) inverted.
func flipByte(v []byte) []byte {
	if len(v) == 0 {
		return v
	}
	b := bytes.Clone(v)
	b[min(flipOffset, len(b)-1)] ^= 0xff
	return b
}

// flipOffset falls inside a sealed value's wrapped data key.
const flipOffset = 16

// populateSealed stores n rows in env's table, their three 1 KiB random
// tokens sealed by kek for their place, as the store would have written
// them. It writes with multi-row INSERTs of raw SQL, one page of rows at a
// time, so that its memory does not grow with n.
func populateSealed(tb testing.TB, env *avtest.Env, kek *keyring.KEK, n int) {
	tb.Helper()
	const cols = 12
	const perInsert = 100
	created := time.Date(2024, time.May, 6, 7, 8, 9, 0, time.UTC).Unix()
	var plain envelope.Fields
	for c := range plain {
		plain[c] = make([]byte, 1<<10)
	}
	var q strings.Builder
	args := make([]any, 0, cols*perInsert)
	for start := 0; start < n; start += perInsert {
		end := min(start+perInsert, n)
		q.Reset()
		q.WriteString(`INSERT INTO {t} (id, user_id, provider_id, account_id, access_token, refresh_token, id_token,
			access_token_expires_at, refresh_token_expires_at, scope, created_at, updated_at) VALUES `)
		args = args[:0]
		for i := start; i < end; i++ {
			if i > start {
				q.WriteString(", ")
			}
			q.WriteString("(")
			for c := range cols {
				if c > 0 {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "$%d", len(args)+c+1)
			}
			q.WriteString(")")
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
				tb.Fatalf("Seal: %v", err)
			}
			args = append(args, fmt.Sprintf("acc-%07d", i), p.UserID, p.ProviderID, p.AccountID,
				sealed[envelope.AccessToken], sealed[envelope.RefreshToken], sealed[envelope.IDToken],
				created+3600, created+86400, "openid email profile", created, created)
		}
		if got := env.Exec(tb, q.String(), args...); got != int64(end-start) {
			tb.Fatalf("inserted %d rows, want %d", got, end-start)
		}
	}
	if got := env.Count(tb); got != n {
		tb.Fatalf("table holds %d rows, want %d", got, n)
	}
}

// Environment of the child process of TestRewrapPeakRSS.
const (
	envRSS        = "ACCOUNTVAULT_RSS"
	envRSSChild   = "ACCOUNTVAULT_RSS_CHILD" // the SQLite database file
	envRSSKeyring = "ACCOUNTVAULT_RSS_KEYRING"
	envRSSMaster  = "ACCOUNTVAULT_RSS_MASTER"
	rssResult     = "RSS-RESULT"
)

// TestRewrapPeakRSS checks that Rewrap's memory does not grow with the
// table: for 10,000 and for 100,000 sealed rows in a SQLite file, it runs a
// child process (this test binary again) that opens the file, runs
// Store.Rewrap onto a new primary key in pages of rewrapBatch rows, and
// reports its peak resident set (VmHWM), before and after the rewrap. The
// rows are written by this process, so the child's peak is the rewrap's.
//
// It takes about 20 seconds, so it runs only with ACCOUNTVAULT_RSS=1.
func TestRewrapPeakRSS(t *testing.T) {
	if os.Getenv(envRSSChild) != "" {
		rssChild(t)
		return
	}
	if os.Getenv(envRSS) != "1" {
		t.Skipf("set %s=1 to measure the peak RSS of a rewrap of 10,000 and 100,000 rows (about 20 seconds)", envRSS)
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	peak := map[int]int{}
	for _, n := range []int{10_000, 100_000} {
		env := avtest.New(t, "sqlite")
		k := genKeyring(t)
		populateSealed(t, env, kekOf(t, k), n)
		env.Exec(t, `PRAGMA wal_checkpoint(TRUNCATE)`)
		if _, err := k.Rotate(); err != nil {
			t.Fatalf("Rotate: %v", err)
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
			t.Fatalf("SaveFile: %v", err)
		}

		cmd := exec.Command(os.Args[0], "-test.run=^TestRewrapPeakRSS$", "-test.v")
		cmd.Env = append(os.Environ(),
			envRSSChild+"="+env.DBFile, envRSSKeyring+"="+krPath, envRSSMaster+"="+master)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("child for %d rows: %v\nstdout:\n%s\nstderr:\n%s", n, err, stdout.Bytes(), stderr.Bytes())
		}
		res, err := parseRSSResult(stdout.Bytes())
		if err != nil {
			t.Fatalf("child for %d rows: %v\nstdout:\n%s", n, err, stdout.Bytes())
		}
		if res["rewritten"] != n || res["failed"] != 0 {
			t.Fatalf("child for %d rows rewrapped %d, failed %d", n, res["rewritten"], res["failed"])
		}
		t.Logf("rows=%d: VmHWM %d KiB before Rewrap, %d KiB after (rewrap took %d ms)",
			n, res["hwm_before_kib"], res["hwm_after_kib"], res["elapsed_ms"])
		peak[n] = res["hwm_after_kib"]
	}
	// Flat: ten times the rows may not cost more than a quarter more peak
	// memory (plus 8 MiB of slack for the runtime's and SQLite's caches).
	if small, large := peak[10_000], peak[100_000]; large > small+small/4+8<<10 {
		t.Errorf("peak RSS grows with the table: %d KiB for 10,000 rows, %d KiB for 100,000", small, large)
	}
}

// rssChild is TestRewrapPeakRSS in the child process.
func rssChild(t *testing.T) {
	master, err := keyring.MasterKeyFromEnv(envRSSMaster)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyring.LoadFile(os.Getenv(envRSSKeyring), master)
	if err != nil {
		t.Fatal(err)
	}
	be, err := sqlite.Open(os.Getenv(envRSSChild))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := be.Close(); err != nil {
			t.Error(err)
		}
	}()
	s, err := store.New(be, kekOf(t, k), store.WithPasswordHasher(testHasher(t)))
	if err != nil {
		t.Fatal(err)
	}
	before, err := vmHWM()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := admin(s).Rewrap(ctx, store.WalkOptions{BatchSize: rewrapBatch})
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	elapsed := time.Since(start)
	after, err := vmHWM()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s rewritten=%d failed=%d hwm_before_kib=%d hwm_after_kib=%d elapsed_ms=%d\n",
		rssResult, rep.Rewritten, rep.Failed, before, after, elapsed.Milliseconds())
}

// vmHWM returns the process's peak resident set size in KiB.
func vmHWM() (int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, errors.New("no VmHWM line in /proc/self/status")
}

// parseRSSResult reads the child's "RSS-RESULT key=value ..." line.
func parseRSSResult(out []byte) (map[string]int, error) {
	for line := range strings.SplitSeq(string(out), "\n") {
		rest, ok := strings.CutPrefix(line, rssResult+" ")
		if !ok {
			continue
		}
		res := map[string]int{}
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("bad result field %q", kv)
			}
			res[k] = n
		}
		return res, nil
	}
	return nil, errors.New("no " + rssResult + " line")
}
