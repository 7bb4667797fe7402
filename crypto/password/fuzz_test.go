package password

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

// countKDF installs an observer that counts derivations and keeps the last
// one, for the fuzz targets (which run their inputs one at a time in each
// process).
func countKDF(f *testing.F) (n *atomic.Int64, last *atomic.Pointer[kdfCall]) {
	n, last = new(atomic.Int64), new(atomic.Pointer[kdfCall])
	o := &kdfObserver{
		begin: func(c kdfCall) { n.Add(1); last.Store(&c) },
		end:   func(kdfCall) {},
	}
	if !observer.CompareAndSwap(nil, o) {
		f.Fatal("another test is watching key derivations")
	}
	f.Cleanup(func() { observer.Store(nil) })
	return n, last
}

// checkSentinel fails unless err wraps exactly one of ErrMalformedHash and
// ErrHashBounds.
func checkSentinel(t *testing.T, err error) error {
	t.Helper()
	m, b := errors.Is(err, ErrMalformedHash), errors.Is(err, ErrHashBounds)
	if m == b {
		t.Fatalf("error wraps ErrMalformedHash: %v, ErrHashBounds: %v", m, b)
	}
	if m {
		return ErrMalformedHash
	}
	return ErrHashBounds
}

// FuzzParsePHC checks that the argon2id parser never panics, that what it
// accepts is within bounds and re-encodes to the very input, and that a
// Hasher hashes nothing for what it refuses. Bounds are tiny so that
// accepted inputs verify quickly.
func FuzzParsePHC(f *testing.F) {
	f.Add(good)
	for _, tc := range phcFailures {
		f.Add(tc.in)
	}
	bounds := Bounds{MaxMemory: 64, MaxTime: 2, MaxThreads: 2}
	h := newHasher(f, WithPolicy(Policy{Memory: 16, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 12}),
		WithBounds(bounds), WithoutLegacyVerifiers())
	n, last := countKDF(f)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, s string) {
		p, perr := parsePHC(s, bounds)
		before := n.Load()
		match, _, verr := h.Verify(ctx, "password", s)
		ran := n.Load() - before
		if h.Recognized(s) != (perr == nil) {
			t.Fatalf("Recognized disagrees with the parser (%v)", perr)
		}
		if perr != nil {
			sentinel := checkSentinel(t, perr)
			if !errors.Is(verr, sentinel) || match {
				t.Fatalf("parser: %v; Verify: %v, %v", perr, match, verr)
			}
			if ran != 0 {
				t.Fatalf("%d derivations for a refused hash", ran)
			}
			return
		}
		if p.memory > bounds.MaxMemory || p.time > bounds.MaxTime || p.threads > bounds.MaxThreads ||
			p.time < 1 || p.threads < 1 || p.memory < 8*uint32(p.threads) ||
			len(p.salt) < minSaltLen || len(p.salt) > maxSaltLen || len(p.key) < minKeyLen || len(p.key) > maxKeyLen {
			t.Fatalf("accepted m=%d t=%d p=%d salt %d key %d", p.memory, p.time, p.threads, len(p.salt), len(p.key))
		}
		if p.encode() != s {
			t.Fatal("accepted a string that does not re-encode to itself")
		}
		if verr != nil || ran != 1 {
			t.Fatalf("Verify: %v, %d derivations", verr, ran)
		}
		c := last.Load()
		if c.memory != p.memory || c.time != p.time || c.threads != p.threads || int(c.keyLen) != len(p.key) || c.saltLen != len(p.salt) {
			t.Fatalf("derived with %+v, parsed m=%d t=%d p=%d", *c, p.memory, p.time, p.threads)
		}
	})
}

// FuzzParseScrypt checks the better-auth scrypt parser: it accepts exactly
// 32 lowercase hex digits, ":", 128 lowercase hex digits, and a Hasher
// hashes nothing for anything else.
func FuzzParseScrypt(f *testing.F) {
	f.Add("669dad2aafab972a853c6f04d5d39c9a:6a999966df5c8ac4d19a3c7aae52a959b90414f4e2906f397537cac467abbc3db3a711f7edc007380ad565fc8791948efb9e989e9cf5bfa63694d0c21a21e960")
	f.Add("669DAD2AAFAB972A853C6F04D5D39C9A:6a999966df5c8ac4d19a3c7aae52a959b90414f4e2906f397537cac467abbc3db3a711f7edc007380ad565fc8791948efb9e989e9cf5bfa63694d0c21a21e960")
	f.Add("salt:key")
	h := newHasher(f, WithPolicy(smallPolicy), WithoutLegacyVerifiers(), WithVerifier(BetterAuthScrypt()))
	n, _ := countKDF(f)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, s string) {
		key, err := parseScrypt(s)
		shaped := len(s) == 161 && s[32] == ':' && isLowerHex(s[:32]) && isLowerHex(s[33:])
		if (err == nil) != shaped {
			t.Fatalf("parseScrypt error %v for a string of the right shape: %v", err, shaped)
		}
		if h.Recognized(s) != shaped {
			t.Fatal("Recognized disagrees with the parser")
		}
		if err == nil {
			if len(key) != 64 {
				t.Fatalf("key of %d bytes", len(key))
			}
			return // verifying costs 32 MiB and ~50 ms: done by the vector tests
		}
		checkSentinel(t, err)
		before := n.Load()
		match, _, verr := h.Verify(ctx, "password", s)
		if !errors.Is(verr, ErrMalformedHash) || match || n.Load() != before {
			t.Fatalf("Verify: %v, %v, %d derivations", match, verr, n.Load()-before)
		}
	})
}

// FuzzParseBcrypt checks the bcrypt parser: it never panics, a Hasher
// hashes nothing for what it refuses, and x/crypto/bcrypt accepts
// everything it accepts (cheap costs only are verified).
func FuzzParseBcrypt(f *testing.F) {
	for _, s := range []string{
		"$2a$04$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba",
		"$2b$04$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba",
		"$2y$04$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba",
		"$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
		"$2a$16$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba",
		"$2a$03$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba",
		"$2$04$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba",
	} {
		f.Add(s)
	}
	v := Bcrypt(DefaultBcryptMaxCost).(bcryptVerifier)
	h := newHasher(f, WithPolicy(smallPolicy), WithoutLegacyVerifiers(), WithVerifier(v))
	n, last := countKDF(f)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, s string) {
		cost, err := v.parse(s)
		if h.Recognized(s) != (err == nil) {
			t.Fatal("Recognized disagrees with the parser")
		}
		before := n.Load()
		if err != nil {
			sentinel := checkSentinel(t, err)
			if strings.HasPrefix(s, "$2") {
				if _, _, verr := h.Verify(ctx, "password", s); !errors.Is(verr, sentinel) || n.Load() != before {
					t.Fatalf("parser: %v; Verify: %v, %d derivations", err, verr, n.Load()-before)
				}
			}
			return
		}
		if len(s) != 60 || cost < 4 || cost > DefaultBcryptMaxCost {
			t.Fatalf("accepted %d bytes of cost %d", len(s), cost)
		}
		if cost > 5 {
			return
		}
		if _, _, verr := h.Verify(ctx, "password", s); verr != nil || n.Load()-before != 1 || last.Load().n != cost {
			t.Fatalf("Verify of an accepted hash: %v, %d derivations", verr, n.Load()-before)
		}
	})
}
