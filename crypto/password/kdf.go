package password

import (
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"

	"github.com/accountvault/accountvault/internal/kdftrace"
)

// This file holds the only calls to a password-hashing function in the
// package, each reported to the test hook of internal/kdftrace as it starts
// and ends. Tests use the hook to count derivations, record their
// parameters and track how many, and how much memory, run at once; in
// production no hook is set and it costs one atomic load per derivation.

func argon2idKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	defer kdftrace.Start(kdftrace.Call{Alg: "argon2id", Memory: memory, Time: time, Threads: threads, KeyLen: keyLen, SaltLen: len(salt)})()
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

func scryptKey(password, salt []byte, n, r, p, keyLen int) ([]byte, error) {
	defer kdftrace.Start(kdftrace.Call{Alg: "scrypt", N: n, R: r, P: p, KeyLen: uint32(keyLen), SaltLen: len(salt)})()
	return scrypt.Key(password, salt, n, r, p, keyLen)
}

func bcryptCompare(hash, password []byte, cost int) error {
	defer kdftrace.Start(kdftrace.Call{Alg: "bcrypt", Cost: cost})()
	return bcrypt.CompareHashAndPassword(hash, password)
}
