package password

import (
	"context"
	"sync"
)

// defaultHasher is the Hasher of the package-level functions, made on first
// use with no options.
var defaultHasher = sync.OnceValues(func() (*Hasher, error) { return New() })

// Hash is [Hasher.Hash] with a Hasher made by New() (the default policy,
// bounds, limiter and legacy verifiers, shared by all package-level calls)
// and context.Background(): it waits for the limiter as long as it takes.
// Servers should make their own Hasher and pass request contexts.
func Hash(password string) (string, error) {
	h, err := defaultHasher()
	if err != nil {
		return "", err
	}
	return h.Hash(context.Background(), password)
}

// Verify is [Hasher.Verify] with the Hasher of [Hash] and
// context.Background().
func Verify(password, stored string) (match, needsUpgrade bool, err error) {
	h, err := defaultHasher()
	if err != nil {
		return false, false, err
	}
	return h.Verify(context.Background(), password, stored)
}
