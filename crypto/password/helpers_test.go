package password

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/accountvault/accountvault/internal/kdftrace"
)

// watchKDF records the package's key derivations, through the hook of
// internal/kdftrace, until the test ends. Tests that use it must not run in
// parallel with each other.
func watchKDF(t testing.TB) *kdftrace.Recorder {
	t.Helper()
	r := &kdftrace.Recorder{}
	h := r.Hook()
	if !kdftrace.Install(h) {
		t.Fatal("another test is watching key derivations")
	}
	t.Cleanup(func() { kdftrace.Remove(h) })
	return r
}

// vector is one line of a testdata vector file: a Go-quoted password, then
// tab-separated fields.
type vector struct {
	line     int
	password string
	fields   []string
}

func readVectors(t *testing.T, name string) []vector {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for n := 1; s.Scan(); n++ {
		line := s.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, "\t")
		pw, err := strconv.Unquote(parts[0])
		if err != nil || len(parts) < 2 {
			t.Fatalf("%s:%d: bad vector line", name, n)
		}
		vs = append(vs, vector{line: n, password: pw, fields: parts[1:]})
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return vs
}

// smallPolicy keeps tests fast; it is within DefaultBounds().
var smallPolicy = Policy{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t testing.TB, opts ...Option) *Hasher {
	t.Helper()
	h, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

// policyCall is the derivation of a hash under p.
func policyCall(p Policy) kdftrace.Call {
	return kdftrace.Call{Alg: "argon2id", Memory: p.Memory, Time: p.Time, Threads: p.Threads, KeyLen: p.KeyLen, SaltLen: int(p.SaltLen)}
}
