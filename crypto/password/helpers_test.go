package password

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// kdfLog records the key derivations of the package while installed.
type kdfLog struct {
	mu          sync.Mutex
	calls       []kdfCall
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	onBegin     func(kdfCall) // optional, runs inside the derivation's slot
}

// watchKDF installs a kdfLog as the package's observer until the test ends.
// Tests that use it must not run in parallel with other such tests.
func watchKDF(t *testing.T) *kdfLog {
	t.Helper()
	l := &kdfLog{}
	o := &kdfObserver{
		begin: func(c kdfCall) {
			l.mu.Lock()
			l.calls = append(l.calls, c)
			hook := l.onBegin
			l.mu.Unlock()
			n := l.inFlight.Add(1)
			for {
				m := l.maxInFlight.Load()
				if n <= m || l.maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
			if hook != nil {
				hook(c)
			}
		},
		end: func(kdfCall) { l.inFlight.Add(-1) },
	}
	if !observer.CompareAndSwap(nil, o) {
		t.Fatal("another test is watching key derivations")
	}
	t.Cleanup(func() { observer.Store(nil) })
	return l
}

func (l *kdfLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

func (l *kdfLog) snapshot() []kdfCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]kdfCall(nil), l.calls...)
}

func (l *kdfLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
	l.maxInFlight.Store(0)
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

// smallPolicy keeps tests fast; it is within DefaultBounds.
var smallPolicy = Policy{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t testing.TB, opts ...Option) *Hasher {
	t.Helper()
	h, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}
