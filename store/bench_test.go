//go:build linux

// The benchmarks read the process's CPU time with getrusage(2) and its peak
// resident set from /proc: they are for Linux, where the figures in
// BENCHMARKS.md were measured.

package store_test

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/backendtest"
	"github.com/accountvault/accountvault/crypto/password"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// The benchmarks of this file measure what the store costs on top of the
// backend it wraps. Each family runs the same calls, on the same rows in
// the same order, against the bare backend (impl=bare) and through a Store
// over a backend of the same kind (impl=sealed), so that benchstat puts
// them side by side. The rows are those of backendtest.Benchmark (the
// backends' baseline): backendtest.BenchRows rows of three random tokens
// of backendtest.BenchTokenSize bytes each, three rows per user.
//
// Besides time, B/op and allocs/op, each reports cpu-ns/op: the process's
// CPU time per call (getrusage), the garbage collector's background work
// included. It moves less than time/op when other processes load the
// machine; on Postgres it is the client's part only.
//
// On a shared machine, run each side in its own process, alternating
// which goes first, and read the ratios (BENCHMARKS.md has the script):
//
//	go test -p 1 -run '^$' -bench 'FindByProvider/db=sqlite/impl=bare$' -benchmem -count 1 ./store/
//	benchstat -col /impl bench.txt

var benchProviders = []string{"google", "github", "microsoft"}

// benchAccounts returns the rows the FindByProvider and Upsert benchmarks
// store before they measure.
func benchAccounts() []accountvault.Account {
	base := time.Date(2024, time.May, 6, 7, 8, 9, 0, time.UTC)
	atExp, rtExp := base.Add(time.Hour), base.Add(24*time.Hour)
	rows := make([]accountvault.Account, backendtest.BenchRows)
	for i := range rows {
		rows[i] = accountvault.Account{
			ID:                    fmt.Sprintf("acc-%04d", i),
			UserID:                fmt.Sprintf("user-%04d", i/len(benchProviders)),
			ProviderID:            benchProviders[i%len(benchProviders)],
			AccountID:             fmt.Sprintf("subject-%04d", i),
			AccessToken:           randomSecret(backendtest.BenchTokenSize),
			RefreshToken:          randomSecret(backendtest.BenchTokenSize),
			IDToken:               randomSecret(backendtest.BenchTokenSize),
			AccessTokenExpiresAt:  &atExp,
			RefreshTokenExpiresAt: &rtExp,
			Scope:                 "openid email profile",
			CreatedAt:             base,
		}
	}
	return rows
}

func randomSecret(n int) accountvault.Secret {
	b := make([]byte, n)
	rand.Read(b)
	return accountvault.SecretBytes(b)
}

// benchImpls are the two sides of every family: the backend alone, and a
// Store (default options, a fresh keyring) over a backend of the same kind.
var benchImpls = []string{"bare", "sealed"}

// benchSide is one side of a family: the calls it measures, on Accounts.
// The bare backend stores each token's bytes as they are (in the place of
// sealed values); the store seals them.
type benchSide struct {
	upsert func(a accountvault.Account) (id string, err error)
	find   func(provider, acct string) (id string, accessLen int, err error)
}

// benchBackend returns a side of the given kind and impl holding rows.
// It makes one FindByProvider call before returning, so that neither side
// pays a first-call cost (statement preparation, the store's keyring
// check) inside the measurement.
func benchBackend(b *testing.B, kind, impl string, rows []accountvault.Account) benchSide {
	b.Helper()
	env := avtest.New(b, kind)
	var side benchSide
	switch impl {
	case "bare":
		be := env.Backend
		side = benchSide{
			upsert: func(a accountvault.Account) (string, error) {
				got, err := be.Upsert(ctx, unsealedRow(&a))
				return got.ID, err
			},
			find: func(provider, acct string) (string, int, error) {
				got, err := be.FindByProvider(ctx, provider, acct)
				return got.ID, len(got.AccessToken), err
			},
		}
	case "sealed":
		s, err := store.New(env.Backend, benchKEK(b))
		if err != nil {
			b.Fatalf("store.New: %v", err)
		}
		side = benchSide{
			upsert: func(a accountvault.Account) (string, error) {
				got, err := s.Upsert(ctx, a)
				return got.ID, err
			},
			find: func(provider, acct string) (string, int, error) {
				got, err := s.FindByProvider(ctx, provider, acct)
				return got.ID, got.AccessToken.Len(), err
			},
		}
	default:
		b.Fatalf("unknown impl %q", impl)
	}
	for _, a := range rows {
		if _, err := side.upsert(a); err != nil {
			b.Fatalf("Upsert(%s): %v", a.ID, err)
		}
	}
	if _, _, err := side.find(rows[0].ProviderID, rows[0].AccountID); err != nil {
		b.Fatalf("FindByProvider: %v", err)
	}
	return side
}

// benchKEKEnv names the environment variable that chooses the KEK of the
// sealed side: unset or "XAES-256-GCM", a fresh keyring (whose keys are
// XAES-256-GCM); "AES-256-GCM", the AES-256-GCM keyring
// keyring/testdata/keyring-v1-cleartext.json, what every store used before
// XAES-256-GCM keys. It leaves the benchmarks' names alone, so that runs
// under either KEK compare with benchstat, and with earlier versions.
const benchKEKEnv = "ACCOUNTVAULT_BENCH_KEK"

// benchKEK returns the KEK that benchKEKEnv chooses, after checking that
// its primary key has that algorithm.
func benchKEK(b *testing.B) *keyring.KEK {
	b.Helper()
	want := keyring.XAES256GCM
	k := genKeyring(b)
	switch alg := os.Getenv(benchKEKEnv); alg {
	case "", want.String():
	case keyring.AES256GCM.String():
		want = keyring.AES256GCM
		f, err := os.Open("../keyring/testdata/keyring-v1-cleartext.json")
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if k, err = keyring.InsecureLoadCleartext(f); err != nil {
			b.Fatalf("loading the AES-256-GCM keyring: %v", err)
		}
	default:
		b.Fatalf("%s=%q: want %q or %q", benchKEKEnv, alg, keyring.XAES256GCM, keyring.AES256GCM)
	}
	kek := kekOf(b, k)
	if got, _ := kek.Algorithm(kek.PrimaryID()); got != want {
		b.Fatalf("the benchmark keyring's primary key is %v, want %v", got, want)
	}
	return kek
}

// unsealedRow returns a's row with its token bytes in the place of sealed
// values, for the bare backend's side of a benchmark.
func unsealedRow(a *accountvault.Account) accountvault.SealedRow {
	return accountvault.SealedRow{
		ID: a.ID, UserID: a.UserID, ProviderID: a.ProviderID, AccountID: a.AccountID,
		AccessToken: a.AccessToken.Bytes(), RefreshToken: a.RefreshToken.Bytes(), IDToken: a.IDToken.Bytes(),
		AccessTokenExpiresAt: a.AccessTokenExpiresAt, RefreshTokenExpiresAt: a.RefreshTokenExpiresAt,
		Scope: a.Scope, Password: a.Password, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

// eachBench runs fn as BenchmarkXxx/db=<kind>/impl=<impl> for both real
// backends and both impls.
func eachBench(b *testing.B, fn func(b *testing.B, kind, impl string)) {
	for _, kind := range avtest.Kinds {
		b.Run("db="+kind, func(b *testing.B) {
			for _, impl := range benchImpls {
				b.Run("impl="+impl, func(b *testing.B) { fn(b, kind, impl) })
			}
		})
	}
}

// BenchmarkFindByProvider reads one of the stored rows per iteration, in
// row order. Through the store, that is the backend's read plus opening
// three sealed tokens (one data-key unwrap, three AES-GCM opens).
func BenchmarkFindByProvider(b *testing.B) {
	rows := benchAccounts()
	eachBench(b, func(b *testing.B, kind, impl string) {
		be := benchBackend(b, kind, impl, rows)
		b.SetBytes(3 * backendtest.BenchTokenSize)
		b.ReportAllocs()
		cpu := startCPU(b, syscall.RUSAGE_SELF)
		i := 0
		for b.Loop() {
			a := &rows[i%len(rows)]
			id, n, err := be.find(a.ProviderID, a.AccountID)
			if err != nil {
				b.Fatal(err)
			}
			if id != a.ID || n != a.AccessToken.Len() {
				b.Fatalf("FindByProvider returned row %q (access token %d bytes), want %q (%d bytes)",
					id, n, a.ID, a.AccessToken.Len())
			}
			i++
		}
		cpu.report(b)
	})
}

// BenchmarkUpsert refreshes one of the stored rows per iteration, in row
// order: three new random tokens. Through the store, that is sealing them
// (a fresh data key, one wrap, three AES-GCM seals) plus the backend's
// write.
func BenchmarkUpsert(b *testing.B) {
	rows := benchAccounts()
	fresh := make([]accountvault.Secret, 3*len(rows))
	for i := range fresh {
		fresh[i] = randomSecret(backendtest.BenchTokenSize)
	}
	eachBench(b, func(b *testing.B, kind, impl string) {
		be := benchBackend(b, kind, impl, rows)
		b.SetBytes(3 * backendtest.BenchTokenSize)
		b.ReportAllocs()
		cpu := startCPU(b, syscall.RUSAGE_SELF)
		i := 0
		for b.Loop() {
			a := rows[i%len(rows)]
			a.AccessToken, a.RefreshToken, a.IDToken = fresh[i%len(fresh)], fresh[(i+1)%len(fresh)], fresh[(i+2)%len(fresh)]
			id, err := be.upsert(a)
			if err != nil {
				b.Fatal(err)
			}
			if id != a.ID {
				b.Fatalf("Upsert returned row %q, want %q", id, a.ID)
			}
			i++
		}
		cpu.report(b)
	})
}

// cpuTime returns the user and system CPU time of who (RUSAGE_SELF: the
// whole process).
func cpuTime(b *testing.B, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures the CPU time of a b.Loop benchmark (whose function runs
// once per measurement, so that the time between startCPU and report is
// the loop's, setup excluded).
type cpuMeter struct {
	who   int
	start time.Duration
}

func startCPU(b *testing.B, who int) cpuMeter { return cpuMeter{who, cpuTime(b, who)} }

// report adds the cpu-ns/op metric: CPU time per iteration, the collector's
// background work included.
func (m cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64((cpuTime(b, m.who)-m.start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkVerifyPassword compares a login through the store on SQLite
// (read the credential row, parse and bound the stored hash, argon2id under
// the limiter, constant-time compare) with a bare argon2.IDKey of the same
// parameters, salt and length, and the same compare, in the same run:
//
//	for i in $(seq 10); do
//		go test -p 1 -run '^$' -bench VerifyPassword -benchmem -count 1 ./store/
//	done | tee /tmp/av/bench-verify.txt
//	benchstat -col /impl /tmp/av/bench-verify.txt
//
// The store uses its default hasher (password.DefaultPolicy(): m=64 MiB,
// t=3, p=4), and the hash is the one its SetPassword wrote.
func BenchmarkVerifyPassword(b *testing.B) {
	const user, pw = "user-1", "correct horse battery staple"
	env := avtest.New(b, "sqlite")
	s, err := store.New(env.Backend, kekOf(b, genKeyring(b)))
	if err != nil {
		b.Fatalf("store.New: %v", err)
	}
	if err := s.SetPassword(ctx, user, pw); err != nil {
		b.Fatalf("SetPassword: %v", err)
	}
	raw, err := env.Backend.FindByProvider(ctx, accountvault.ProviderCredential, user)
	if err != nil {
		b.Fatalf("reading the credential row: %v", err)
	}
	h, err := parseArgon2id(raw.Password.Reveal())
	if err != nil {
		b.Fatalf("stored hash: %v", err)
	}
	if p := password.DefaultPolicy(); h.m != p.Memory || h.t != p.Time || h.p != p.Threads || len(h.hash) != int(p.KeyLen) {
		b.Fatalf("stored hash has m=%d,t=%d,p=%d,len=%d; want the default policy %+v", h.m, h.t, h.p, len(h.hash), p)
	}

	b.Run("impl=idkey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			k := argon2.IDKey([]byte(pw), h.salt, h.t, h.m, h.p, uint32(len(h.hash)))
			if subtle.ConstantTimeCompare(k, h.hash) != 1 {
				b.Fatal("argon2.IDKey does not reproduce the stored hash")
			}
		}
	})
	b.Run("impl=store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ok, err := s.VerifyPassword(ctx, user, pw)
			if err != nil || !ok {
				b.Fatalf("VerifyPassword = %v, %v; want true", ok, err)
			}
		}
	})
}

// argon2idHash is a parsed $argon2id$v=19$m=…,t=…,p=…$salt$hash string.
type argon2idHash struct {
	m, t       uint32
	p          uint8
	salt, hash []byte
}

// parseArgon2id parses a PHC argon2id string, for the benchmark's baseline
// only (package password has the real parser). Its errors never hold the
// string.
func parseArgon2id(s string) (argon2idHash, error) {
	var h argon2idHash
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v=19" {
		return h, fmt.Errorf("not an argon2id v=19 PHC string (%d fields)", len(f))
	}
	for _, kv := range strings.Split(f[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return h, fmt.Errorf("parameter %q: %w", k, err)
		}
		switch k {
		case "m":
			h.m = uint32(n)
		case "t":
			h.t = uint32(n)
		case "p":
			if n > 255 {
				return h, fmt.Errorf("parameter p out of range")
			}
			h.p = uint8(n)
		default:
			return h, fmt.Errorf("unknown parameter %q", k)
		}
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(f[4]); err != nil {
		return h, fmt.Errorf("salt: %w", err)
	}
	if h.hash, err = base64.RawStdEncoding.DecodeString(f[5]); err != nil {
		return h, fmt.Errorf("hash: %w", err)
	}
	return h, nil
}
