// Package kdftrace lets tests outside crypto/password see each password-hash
// derivation (argon2id, scrypt, bcrypt) as it starts: the store's tests use
// it to show that an unknown user costs the same argon2id work as a known
// one. In production no hook is set and it costs one atomic load per hash.
package kdftrace

import "sync/atomic"

// Call describes one derivation. Memory is in KiB; for scrypt and bcrypt
// only Alg is set.
type Call struct {
	Alg     string // "argon2id", "scrypt" or "bcrypt"
	Memory  uint32
	Time    uint32
	Threads uint8
}

var hook atomic.Pointer[func(Call)]

// Set installs f (nil removes it) and returns the previous hook.
func Set(f func(Call)) (previous func(Call)) {
	var p *func(Call)
	if f != nil {
		p = &f
	}
	if old := hook.Swap(p); old != nil {
		return *old
	}
	return nil
}

// Note reports a derivation to the hook, if one is set.
func Note(c Call) {
	if f := hook.Load(); f != nil {
		(*f)(c)
	}
}
