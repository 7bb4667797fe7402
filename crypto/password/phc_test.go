package password

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// good is the reference tool's hash of "password" (printf %s password |
// argon2 somesalt -id -t 2 -k 64 -p 1 -e); the table below breaks it one way
// at a time.
const (
	good     = "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$FqGkmHNGCd0BRW2kBt6fPZ2pPmyGwwChL8FGUhTOSSI"
	goodSalt = "c29tZXNhbHQ"
	goodHash = "FqGkmHNGCd0BRW2kBt6fPZ2pPmyGwwChL8FGUhTOSSI"
)

// withParams returns good with its parameter field replaced.
func withParams(params string) string {
	return "$argon2id$v=19$" + params + "$" + goodSalt + "$" + goodHash
}

var phcFailures = []struct {
	name string
	in   string
	want error
}{
	// Parameters outside the bounds.
	{"t=0", withParams("m=64,t=0,p=1"), ErrHashBounds},
	{"p=0", withParams("m=64,t=2,p=0"), ErrHashBounds},
	{"m=0", withParams("m=0,t=2,p=1"), ErrHashBounds},
	{"m=2^32-1", withParams("m=4294967295,t=2,p=1"), ErrHashBounds},
	{"m above MaxMemory", withParams("m=262145,t=2,p=1"), ErrHashBounds},
	{"m below 8p", withParams("m=15,t=2,p=2"), ErrHashBounds},
	{"t above MaxTime", withParams("m=64,t=11,p=1"), ErrHashBounds},
	{"t=2^32-1", withParams("m=64,t=4294967295,p=1"), ErrHashBounds},
	{"p above MaxThreads", withParams("m=256,t=2,p=17"), ErrHashBounds},
	{"p above uint8", withParams("m=65536,t=2,p=256"), ErrHashBounds},
	{"salt 7 bytes", "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbA$" + goodHash, ErrHashBounds},
	{"salt 49 bytes", "$argon2id$v=19$m=64,t=2,p=1$" + strings.Repeat("A", 65) + "Q$" + goodHash, ErrHashBounds},
	{"hash 11 bytes", "$argon2id$v=19$m=64,t=2,p=1$" + goodSalt + "$AAAAAAAAAAAAAAA", ErrHashBounds},
	{"hash 65 bytes", "$argon2id$v=19$m=64,t=2,p=1$" + goodSalt + "$" + strings.Repeat("A", 86) + "Q", ErrHashBounds},

	// Numbers.
	{"m=2^32 overflows", withParams("m=4294967296,t=2,p=1"), ErrMalformedHash},
	{"m 11 digits", withParams("m=10000000000,t=2,p=1"), ErrMalformedHash},
	{"t=2^64 overflows", withParams("m=64,t=18446744073709551616,p=1"), ErrMalformedHash},
	{"leading zero m=065536", withParams("m=065536,t=2,p=1"), ErrMalformedHash},
	{"leading zero t=02", withParams("m=64,t=02,p=1"), ErrMalformedHash},
	{"t=00", withParams("m=64,t=00,p=1"), ErrMalformedHash},
	{"plus sign", withParams("m=+64,t=2,p=1"), ErrMalformedHash},
	{"minus sign", withParams("m=64,t=-2,p=1"), ErrMalformedHash},
	{"empty m", withParams("m=,t=2,p=1"), ErrMalformedHash},
	{"hex number", withParams("m=0x40,t=2,p=1"), ErrMalformedHash},
	{"space in number", withParams("m= 64,t=2,p=1"), ErrMalformedHash},
	{"space after comma", withParams("m=64, t=2,p=1"), ErrMalformedHash},

	// Fields.
	{"missing t", withParams("m=64,p=1"), ErrMalformedHash},
	{"missing p", withParams("m=64,t=2"), ErrMalformedHash},
	{"fields reordered", withParams("t=2,m=64,p=1"), ErrMalformedHash},
	{"extra keyid", withParams("m=64,t=2,p=1,keyid=abc"), ErrMalformedHash},
	{"extra data", withParams("m=64,t=2,p=1,data=abc"), ErrMalformedHash},
	{"uppercase parameter", withParams("M=64,t=2,p=1"), ErrMalformedHash},
	{"missing v=", "$argon2id$m=64,t=2,p=1$" + goodSalt + "$" + goodHash, ErrMalformedHash},
	// printf %s password | argon2 somesalt -id -t 2 -k 64 -p 1 -v 10 -e
	{"v=16", "$argon2id$v=16$m=64,t=2,p=1$c29tZXNhbHQ$4nDCgqqi/MYvPUrUq8ZfVUrFto43iXYW7ryycatUzoI", ErrMalformedHash},
	{"v=019", "$argon2id$v=019$m=64,t=2,p=1$" + goodSalt + "$" + goodHash, ErrMalformedHash},
	{"v=20", "$argon2id$v=20$m=64,t=2,p=1$" + goodSalt + "$" + goodHash, ErrMalformedHash},
	{"missing salt and hash", "$argon2id$v=19$m=64,t=2,p=1", ErrMalformedHash},
	{"missing hash", "$argon2id$v=19$m=64,t=2,p=1$" + goodSalt, ErrMalformedHash},
	{"empty salt", "$argon2id$v=19$m=64,t=2,p=1$$" + goodHash, ErrMalformedHash},
	{"empty hash", "$argon2id$v=19$m=64,t=2,p=1$" + goodSalt + "$", ErrMalformedHash},
	{"trailing garbage", good + "$extra", ErrMalformedHash},
	{"trailing dollar", good + "$", ErrMalformedHash},
	{"trailing space", good + " ", ErrMalformedHash},
	{"trailing newline", good + "\n", ErrMalformedHash},
	{"trailing NUL", good + "\x00", ErrMalformedHash},
	{"leading space", " " + good, ErrMalformedHash},
	{"empty", "", ErrMalformedHash},
	{"prefix only", "$argon2id$", ErrMalformedHash},
	{"too long", good + strings.Repeat("A", maxPHCLen), ErrMalformedHash},

	// Variants.
	// printf %s password | argon2 somesalt -i -t 2 -k 64 -p 1 -e
	{"argon2i", "$argon2i$v=19$m=64,t=2,p=1$c29tZXNhbHQ$mJ2mVFjovhRArlVdCzyKw6ZYTg0ikLncyRWminHkHB4", ErrMalformedHash},
	// printf %s password | argon2 somesalt -d -t 2 -k 64 -p 1 -e
	{"argon2d", "$argon2d$v=19$m=64,t=2,p=1$c29tZXNhbHQ$+SDZVThkhGWr7rpq4G6lMu0m3zFK/2AVAjfY/hFvYs0", ErrMalformedHash},
	{"uppercase variant", strings.Replace(good, "argon2id", "ARGON2ID", 1), ErrMalformedHash},
	{"argon2ix", strings.Replace(good, "argon2id", "argon2idx", 1), ErrMalformedHash},

	// Base64.
	{"padded salt", "$argon2id$v=19$m=64,t=2,p=1$" + goodSalt + "=$" + goodHash, ErrMalformedHash},
	{"padded hash", "$argon2id$v=19$m=64,t=2,p=1$" + goodSalt + "$" + goodHash + "=", ErrMalformedHash},
	{"non-canonical salt bits", "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHR$" + goodHash, ErrMalformedHash},
	{"non-canonical hash bits", "$argon2id$v=19$m=64,t=2,p=1$" + goodSalt + "$" + goodHash[:len(goodHash)-1] + "J", ErrMalformedHash},
	{"impossible length", "$argon2id$v=19$m=64,t=2,p=1$" + goodSalt + "A$" + goodHash[:len(goodHash)-3] + "A", ErrMalformedHash},
	{"base64url salt", "$argon2id$v=19$m=64,t=2,p=1$c29tZXNh-_Q$" + goodHash, ErrMalformedHash},
	{"newline in salt", "$argon2id$v=19$m=64,t=2,p=1$c29tZX\nNhbHQ$" + goodHash, ErrMalformedHash},
	{"CR in hash", "$argon2id$v=19$m=64,t=2,p=1$" + goodSalt + "$" + goodHash[:10] + "\r" + goodHash[10:], ErrMalformedHash},
	{"space in hash", "$argon2id$v=19$m=64,t=2,p=1$" + goodSalt + "$" + goodHash[:10] + " " + goodHash[10:], ErrMalformedHash},
}

func TestParsePHCGood(t *testing.T) {
	p, err := parsePHC(good, DefaultBounds())
	if err != nil {
		t.Fatal(err)
	}
	if p.memory != 64 || p.time != 2 || p.threads != 1 || string(p.salt) != "somesalt" || len(p.key) != 32 {
		t.Fatalf("parsed m=%d t=%d p=%d salt %d bytes key %d bytes", p.memory, p.time, p.threads, len(p.salt), len(p.key))
	}
	if p.encode() != good {
		t.Fatal("parse then encode does not give the input back")
	}
}

// TestParsePHCFailures checks each broken string fails with the right
// sentinel, through the parser and through a Hasher, without hashing and
// without echoing the salt or hash.
func TestParsePHCFailures(t *testing.T) {
	log := watchKDF(t)
	h := newHasher(t, WithPolicy(smallPolicy))
	ctx := context.Background()
	for _, tc := range phcFailures {
		t.Run(tc.name, func(t *testing.T) {
			other := ErrHashBounds
			if tc.want == ErrHashBounds {
				other = ErrMalformedHash
			}
			_, err := parsePHC(tc.in, DefaultBounds())
			if !errors.Is(err, tc.want) || errors.Is(err, other) {
				t.Fatalf("parsePHC: got %v, want an error wrapping only %v", err, tc.want)
			}
			const pw = "Tr0ub4dor&3-secret"
			match, upgrade, err := h.Verify(ctx, pw, tc.in)
			if !errors.Is(err, tc.want) || match || upgrade {
				t.Fatalf("Verify: got (%v, %v, %v), want an error wrapping %v", match, upgrade, err, tc.want)
			}
			for _, secret := range []string{goodSalt, goodHash[:12], pw} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error text contains part of the hash or the password (%d bytes of error)", len(err.Error()))
				}
			}
			if h.Recognized(tc.in) {
				t.Fatal("Recognized is true")
			}
			if !h.NeedsUpgrade(tc.in) {
				t.Fatal("NeedsUpgrade is false")
			}
			if n := log.Count(); n != 0 {
				t.Fatalf("%d key derivations ran", n)
			}
		})
	}
	// The good string itself passes all of the above, and does hash.
	if match, _, err := h.Verify(ctx, "password", good); err != nil || !match {
		t.Fatalf("Verify(good) = %v, %v", match, err)
	}
	if log.Count() != 1 {
		t.Fatalf("Verify(good) ran %d key derivations, want 1", log.Count())
	}
}

// TestBoundsConfigurable checks WithBounds narrows and widens what verifies.
func TestBoundsConfigurable(t *testing.T) {
	ctx := context.Background()
	if _, err := New(WithBounds(Bounds{MaxMemory: 32, MaxTime: 1, MaxThreads: 1})); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("DefaultPolicy outside the bounds: New returned %v, want ErrInvalidConfig", err)
	}
	narrow := newHasher(t, WithPolicy(Policy{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}), WithBounds(Bounds{MaxMemory: 32, MaxTime: 1, MaxThreads: 1}))
	if _, _, err := narrow.Verify(ctx, "password", good); !errors.Is(err, ErrHashBounds) {
		t.Fatalf("m=64 under MaxMemory 32: got %v, want ErrHashBounds", err)
	}
	wide := newHasher(t, WithPolicy(smallPolicy), WithBounds(Bounds{MaxMemory: 64, MaxTime: 11, MaxThreads: 1}))
	if _, err := parsePHC(withParams("m=64,t=11,p=1"), wide.bounds); err != nil {
		t.Fatalf("t=11 under MaxTime 11: %v", err)
	}
}
