package password

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/accountvault/accountvault/internal/kdftrace"
)

// watchFuzz records the derivations of one fuzz input at a time: the fuzz
// targets run their inputs one after another in each process, and Reset
// the recorder before each.
func watchFuzz(f *testing.F) *kdftrace.Recorder {
	r := &kdftrace.Recorder{}
	h := r.Hook()
	if !kdftrace.Install(h) {
		f.Fatal("another test is watching key derivations")
	}
	f.Cleanup(func() { kdftrace.Remove(h) })
	return r
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
// accepts is within bounds and re-encodes to the very input, that a Hasher
// hashes nothing for what it refuses, and that for what it accepts it runs
// the hash's own derivation, then, when the password does not match and
// the hash is cheaper than the policy in any parameter, exactly one
// derivation under the policy. Bounds are tiny so that accepted inputs
// verify quickly.
func FuzzParsePHC(f *testing.F) {
	f.Add(good)
	for _, tc := range phcFailures {
		f.Add(tc.in)
	}
	bounds := Bounds{MaxMemory: 64, MaxTime: 2, MaxThreads: 2}
	pol := Policy{Memory: 32, Time: 1, Threads: 2, SaltLen: 8, KeyLen: 12}
	h := newHasher(f, WithPolicy(pol), WithBounds(bounds), WithoutLegacyVerifiers())
	log := watchFuzz(f)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, s string) {
		p, perr := parsePHC(s, bounds)
		log.Reset()
		match, _, verr := h.Verify(ctx, "password", s)
		calls := log.Calls()
		ran := len(calls)
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
		want := []kdftrace.Call{{Alg: "argon2id", Memory: p.memory, Time: p.time, Threads: p.threads, KeyLen: uint32(len(p.key)), SaltLen: len(p.salt)}}
		cheaper := p.memory < pol.Memory || p.time < pol.Time || p.threads > pol.Threads
		if !match && cheaper {
			want = append(want, policyCall(pol))
		}
		if verr != nil || !slices.Equal(calls, want) {
			t.Fatalf("Verify: %v, %v; derived %+v, want %+v", match, verr, calls, want)
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
	log := watchFuzz(f)
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
		log.Reset()
		match, _, verr := h.Verify(ctx, "password", s)
		if !errors.Is(verr, ErrMalformedHash) || match || log.Count() != 0 {
			t.Fatalf("Verify: %v, %v, %d derivations", match, verr, log.Count())
		}
	})
}

// FuzzParseBcrypt checks the bcrypt parser: it never panics, a Hasher
// hashes nothing for what it refuses, and x/crypto/bcrypt accepts
// everything it accepts, after which a mismatch costs one derivation under
// the policy too (cheap costs only are verified).
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
	log := watchFuzz(f)
	ctx := context.Background()

	f.Fuzz(func(t *testing.T, s string) {
		cost, err := v.parse(s)
		if h.Recognized(s) != (err == nil) {
			t.Fatal("Recognized disagrees with the parser")
		}
		log.Reset()
		if err != nil {
			sentinel := checkSentinel(t, err)
			if strings.HasPrefix(s, "$2") {
				if _, _, verr := h.Verify(ctx, "password", s); !errors.Is(verr, sentinel) || log.Count() != 0 {
					t.Fatalf("parser: %v; Verify: %v, %d derivations", err, verr, log.Count())
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
		match, _, verr := h.Verify(ctx, "password", s)
		want := []kdftrace.Call{{Alg: "bcrypt", Cost: cost}}
		if !match {
			want = append(want, policyCall(smallPolicy))
		}
		if calls := log.Calls(); verr != nil || !slices.Equal(calls, want) {
			t.Fatalf("Verify of an accepted hash: %v, %v; derived %+v, want %+v", match, verr, calls, want)
		}
	})
}
