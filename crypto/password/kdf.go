package password

import (
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"

	"github.com/accountvault/accountvault/internal/kdftrace"
)

// This file holds the only calls to a password-hashing function in the
// package, each wrapped to report to kdfObserver. Tests use the observer to
// count invocations, record their parameters and track how many run at
// once; in production it is nil and costs one atomic load per hash.

// kdfCall describes one key derivation.
type kdfCall struct {
	alg string // "argon2id", "scrypt" or "bcrypt"

	// argon2id
	memory, time uint32
	threads      uint8
	keyLen       uint32
	saltLen      int

	// scrypt: N, r, p and keyLen above; bcrypt: cost in n.
	n, r, p int
}

type kdfObserver struct {
	begin, end func(kdfCall)
}

var observer atomic.Pointer[kdfObserver]

func observe(c kdfCall) (done func()) {
	kdftrace.Note(kdftrace.Call{Alg: c.alg, Memory: c.memory, Time: c.time, Threads: c.threads})
	o := observer.Load()
	if o == nil {
		return func() {}
	}
	o.begin(c)
	return func() { o.end(c) }
}

func argon2idKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	defer observe(kdfCall{alg: "argon2id", memory: memory, time: time, threads: threads, keyLen: keyLen, saltLen: len(salt)})()
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

func scryptKey(password, salt []byte, n, r, p, keyLen int) ([]byte, error) {
	defer observe(kdfCall{alg: "scrypt", n: n, r: r, p: p, keyLen: uint32(keyLen), saltLen: len(salt)})()
	return scrypt.Key(password, salt, n, r, p, keyLen)
}

func bcryptCompare(hash, password []byte, cost int) error {
	defer observe(kdfCall{alg: "bcrypt", n: cost})()
	return bcrypt.CompareHashAndPassword(hash, password)
}
