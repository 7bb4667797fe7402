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

func (v argon2idVerifier) Parse(stored string) (ParsedHash, error) {
	h, err := parsePHC(stored, v.bounds)
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// Cost is the memory parameter: argon2id allocates m KiB.
func (h *phc) Cost() int64 { return int64(h.memory) }

func (h *phc) Verify(password string) (bool, error) {
	pw, err := normalize(password)
	if err != nil {
		return false, err
	}
	return h.verifyNFKC(pw)
}

func (h *phc) verifyNFKC(pw []byte) (bool, error) {
	key := argon2idKey(pw, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// atLeast reports whether verifying h costs at least what verifying a hash
// under p does, in memory, passes and wall time: m and t no lower, and no
// more lanes to spread the work over (argon2 runs its lanes in parallel).
// The salt and tag lengths cost next to nothing and are not compared.
func (h *phc) atLeast(p Policy) bool {
	return h.memory >= p.Memory && h.time >= p.Time && h.threads <= p.Threads
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

// dummyPHC returns an argon2id hash with the parameters of p and a random
// salt and tag. No password hashes to it (but with probability
// 2^-(8×KeyLen)); verifying against it costs exactly what verifying a real
// hash under p costs.
func dummyPHC(p Policy) (*phc, error) {
	b := make([]byte, p.SaltLen+p.KeyLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("password: reading random bytes: %w", err)
	}
	return &phc{memory: p.Memory, time: p.Time, threads: p.Threads, salt: b[:p.SaltLen], key: b[p.SaltLen:]}, nil
}
