package password

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"strings"
)

// argon2idVerifier verifies argon2id PHC strings within bounds. Every
// string starting with "$argon2" is its own: argon2i, argon2d and
// non-canonical forms are refused as malformed rather than passed on to
// another verifier.
type argon2idVerifier struct {
	bounds Bounds
}

func (v argon2idVerifier) Recognize(stored string) bool {
	return strings.HasPrefix(stored, "$argon2")
}

func (v argon2idVerifier) Cost(stored string) (int64, error) {
	h, err := parsePHC(stored, v.bounds)
	if err != nil {
		return 0, err
	}
	return int64(h.memory), nil
}

func (v argon2idVerifier) Verify(password, stored string) (bool, error) {
	h, err := parsePHC(stored, v.bounds)
	if err != nil {
		return false, err
	}
	pw, err := normalize(password)
	if err != nil {
		return false, err
	}
	key := argon2idKey(pw, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// hashArgon2id hashes a password (already normalised) under p with a fresh
// random salt.
func hashArgon2id(pw []byte, p Policy) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: reading a random salt: %w", err)
	}
	return hashArgon2idSalt(pw, salt, p), nil
}

func hashArgon2idSalt(pw, salt []byte, p Policy) string {
	key := argon2idKey(pw, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return phc{memory: p.Memory, time: p.Time, threads: p.Threads, salt: salt, key: key}.encode()
}

// dummyPHC returns a well-formed argon2id PHC string with the parameters of
// p and a random salt and hash. No password hashes to it (but with
// probability 2^-(8×KeyLen)); verifying against it costs exactly what
// verifying a real hash under p costs.
func dummyPHC(p Policy) (string, error) {
	b := make([]byte, p.SaltLen+p.KeyLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("password: reading random bytes: %w", err)
	}
	return phc{memory: p.Memory, time: p.Time, threads: p.Threads, salt: b[:p.SaltLen], key: b[p.SaltLen:]}.encode(), nil
}
