// Package kdftrace is test support: the one hook through which tests see
// every password-hash derivation (argon2id, scrypt, bcrypt) that
// crypto/password runs, with its parameters, as it starts and as it ends.
// The tests of crypto/password use it to count derivations, check their
// parameters and measure how many, and how much memory, run at once; the
// tests of store use it to show that every failed login does the policy's
// argon2id work.
//
// crypto/password calls [Start] around each derivation. In production no
// hook is set, and that costs one atomic load per derivation.
package kdftrace

import (
	"sync"
	"sync/atomic"
)

// Call describes one derivation.
type Call struct {
	Alg string // "argon2id", "scrypt" or "bcrypt"

	// argon2id: memory in KiB (m), passes (t), lanes (p).
	Memory  uint32
	Time    uint32
	Threads uint8

	// argon2id and scrypt: output and salt lengths in bytes.
	KeyLen  uint32
	SaltLen int

	// scrypt: N, r, p.
	N, R, P int

	// bcrypt: the cost (log2 of the rounds).
	Cost int
}

// bcryptKiB is what a bcrypt derivation allocates: the 4 KiB Blowfish
// state (4168 bytes) and small buffers, rounded up.
const bcryptKiB = 5

// KiB returns the memory the derivation allocates, in KiB, computed from
// its parameters alone (not from what crypto/password reserves for it):
// m for argon2id, 128·N·r bytes for scrypt, 5 KiB for bcrypt.
func (c Call) KiB() int64 {
	switch c.Alg {
	case "argon2id":
		return int64(c.Memory)
	case "scrypt":
		return int64(128*c.N*c.R) >> 10
	case "bcrypt":
		return bcryptKiB
	}
	return 0
}

// A Hook receives derivations: Begin as one starts, End when it has
// finished, both on the goroutine that runs it. Either may be nil. They
// must be safe for concurrent use.
type Hook struct {
	Begin, End func(Call)
}

var hook atomic.Pointer[Hook]

// Install installs h, unless a hook is installed already: then it returns
// false and changes nothing. Tests that install a hook must not run in
// parallel with each other.
func Install(h *Hook) (ok bool) {
	return h != nil && hook.CompareAndSwap(nil, h)
}

// Remove removes h, if it is the installed hook.
func Remove(h *Hook) {
	hook.CompareAndSwap(h, nil)
}

func nop() {}

// Start reports the start of a derivation to the hook, if one is set, and
// returns the function that reports its end: crypto/password calls
// defer kdftrace.Start(c)() around each derivation.
func Start(c Call) (end func()) {
	h := hook.Load()
	if h == nil {
		return nop
	}
	if h.Begin != nil {
		h.Begin(c)
	}
	if h.End == nil {
		return nop
	}
	return func() { h.End(c) }
}

// A Recorder records derivations while its [Recorder.Hook] is installed:
// each call, how many ran at once at most, and the most memory (by
// [Call.KiB]) that running derivations held at once. Its zero value is
// ready to use.
type Recorder struct {
	mu          sync.Mutex
	calls       []Call
	onBegin     func(Call)
	inFlight    int
	maxInFlight int
	liveKiB     int64
	maxLiveKiB  int64
}

// Hook returns the hook that records into r.
func (r *Recorder) Hook() *Hook {
	return &Hook{Begin: r.begin, End: r.end}
}

func (r *Recorder) begin(c Call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.inFlight++
	r.maxInFlight = max(r.maxInFlight, r.inFlight)
	r.liveKiB += c.KiB()
	r.maxLiveKiB = max(r.maxLiveKiB, r.liveKiB)
	f := r.onBegin
	r.mu.Unlock()
	if f != nil {
		f(c)
	}
}

func (r *Recorder) end(c Call) {
	r.mu.Lock()
	r.inFlight--
	r.liveKiB -= c.KiB()
	r.mu.Unlock()
}

// OnBegin sets a function that runs at the start of every derivation, after
// it is recorded and before it computes (inside the limiter's slot): a
// test can block or slow derivations with it. nil removes it.
func (r *Recorder) OnBegin(f func(Call)) {
	r.mu.Lock()
	r.onBegin = f
	r.mu.Unlock()
}

// Calls returns the derivations recorded since the last [Recorder.Reset],
// in the order they started.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Count returns len(r.Calls()).
func (r *Recorder) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// MaxInFlight returns the most derivations that ran at once since the last
// Reset.
func (r *Recorder) MaxInFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxInFlight
}

// MaxLiveKiB returns the most memory, by [Call.KiB], that derivations
// running at once held since the last Reset.
func (r *Recorder) MaxLiveKiB() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxLiveKiB
}

// Reset forgets the recorded calls and maxima (derivations still running
// stay counted as running).
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
	r.maxInFlight = r.inFlight
	r.maxLiveKiB = r.liveKiB
}
