package password

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// The benchmarks compare the Hasher with a bare argon2.IDKey of the same
// parameters in the same family, so that benchstat shows the overhead of
// normalisation, parsing, the limiter and encoding:
//
//	go test -run '^$' -bench . -benchtime 10x -count 6 ./crypto/password > bench.txt
//	benchstat -col /impl bench.txt

var benchPolicies = []struct {
	name string
	p    Policy
}{
	{"default", DefaultPolicy()},
	{"owasp", OWASPPolicy()},
}

const benchPassword = "correct horse battery staple"

func BenchmarkHash(b *testing.B) {
	ctx := context.Background()
	for _, bp := range benchPolicies {
		p := bp.p
		h := newHasher(b, WithPolicy(p), WithConcurrency(1))
		b.Run("policy="+bp.name+"/impl=idkey", func(b *testing.B) {
			b.ReportAllocs()
			salt := make([]byte, p.SaltLen)
			for b.Loop() {
				argon2.IDKey([]byte(benchPassword), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
			}
		})
		b.Run("policy="+bp.name+"/impl=hasher", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Hash(ctx, benchPassword); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	for _, bp := range benchPolicies {
		p := bp.p
		h := newHasher(b, WithPolicy(p), WithConcurrency(1))
		stored, err := h.Hash(ctx, benchPassword)
		if err != nil {
			b.Fatal(err)
		}
		parsed, err := parsePHC(stored, DefaultBounds())
		if err != nil {
			b.Fatal(err)
		}
		b.Run("policy="+bp.name+"/impl=idkey", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				argon2.IDKey([]byte(benchPassword), parsed.salt, p.Time, p.Memory, p.Threads, p.KeyLen)
			}
		})
		b.Run("policy="+bp.name+"/impl=hasher", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if match, _, err := h.Verify(ctx, benchPassword, stored); err != nil || !match {
					b.Fatal(match, err)
				}
			}
		})
		b.Run("policy="+bp.name+"/impl=dummy", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := h.VerifyDummy(ctx, benchPassword); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFailedVerify measures a failed login for each kind of stored
// hash against the unknown-user case (VerifyDummy) of the same Hasher
// (DefaultPolicy, one hash at a time). Each iteration runs both, the
// kind's wrong password and the unknown user's, one right after the other
// (alternating which goes first), so that load that comes and goes on a
// shared machine hits both alike. Each sub-benchmark reports the median
// over its iterations of the kind's time per login (kind-ms/op), of the
// unknown user's (unknown-ms/op), and of the ratio of the two within each
// iteration (x-unknown), which must be at least 0.9 for every kind. The
// kind=unknown row pairs the unknown user with itself: its ratio shows the
// method's noise. (sec/op is the mean time of a pair.)
//
// The kinds: argon2id at DefaultPolicy and at OWASPPolicy (m=19 MiB, t=2,
// p=1, cheaper), better-auth scrypt, bcrypt at cost 4 (the cheapest
// accepted) and 10, and bcrypt at cost 4 given a password over its 72
// bytes. The kinds padded-* are the scrypt-padded methods (what a store
// under WithoutPasswordUpgrade runs), each against the same unpadded
// unknown user: padded-unknown (VerifyDummyScryptPadded) over unknown is
// the cost of a login with the option on over one with it off, and
// padded-argon2id-policy and padded-scrypt (VerifyScryptPadded, wrong
// password) must cost what padded-unknown does.
//
//	go test -run '^$' -bench FailedVerify -benchtime 20x -count 8 ./crypto/password | tee /tmp/bench-failed.txt
//	benchstat /tmp/bench-failed.txt
func BenchmarkFailedVerify(b *testing.B) {
	ctx := context.Background()
	h := newHasher(b, WithPolicy(DefaultPolicy()), WithConcurrency(1))
	hashWith := func(p Policy) string {
		s, err := newHasher(b, WithPolicy(p), WithConcurrency(1)).Hash(ctx, benchPassword)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	bcryptOf := func(cost int) string {
		s, err := bcrypt.GenerateFromPassword([]byte(benchPassword), cost)
		if err != nil {
			b.Fatal(err)
		}
		return string(s)
	}
	const wrong = "correct horse battery stapler"
	// better-auth's scrypt of "password" (testdata/scrypt-betterauth.txt).
	const scrypt = "669dad2aafab972a853c6f04d5d39c9a:6a999966df5c8ac4d19a3c7aae52a959b90414f4e2906f397537cac467abbc3db3a711f7edc007380ad565fc8791948efb9e989e9cf5bfa63694d0c21a21e960"
	unknown := func() {
		if err := h.VerifyDummy(ctx, wrong); err != nil {
			b.Fatal(err)
		}
	}
	for _, k := range []struct {
		name, pw, stored string // stored "": the unknown user
		padded           bool   // the scrypt-padded methods
	}{
		{"unknown", wrong, "", false},
		{"argon2id-policy", wrong, hashWith(DefaultPolicy()), false},
		{"argon2id-owasp", wrong, hashWith(OWASPPolicy()), false},
		{"scrypt", wrong, scrypt, false},
		{"bcrypt-4", wrong, bcryptOf(4), false},
		{"bcrypt-10", wrong, bcryptOf(10), false},
		{"bcrypt-4-over72", strings.Repeat(wrong, 3), bcryptOf(4), false},
		{"padded-unknown", wrong, "", true},
		{"padded-argon2id-policy", wrong, hashWith(DefaultPolicy()), true},
		{"padded-scrypt", wrong, scrypt, true},
	} {
		kind := unknown
		switch {
		case k.stored == "" && k.padded:
			kind = func() {
				if err := h.VerifyDummyScryptPadded(ctx, k.pw); err != nil {
					b.Fatal(err)
				}
			}
		case k.stored != "":
			verify := h.Verify
			if k.padded {
				verify = h.VerifyScryptPadded
			}
			kind = func() {
				if match, _, err := verify(ctx, k.pw, k.stored); err != nil || match {
					b.Fatal(match, err)
				}
			}
		}
		b.Run("kind="+k.name, func(b *testing.B) {
			var tKind, tUnknown []float64 // ms, per iteration
			timed := func(f func()) float64 {
				start := time.Now()
				f()
				return float64(time.Since(start).Nanoseconds()) / 1e6
			}
			for b.Loop() {
				if len(tKind)%2 == 0 {
					tUnknown = append(tUnknown, timed(unknown))
					tKind = append(tKind, timed(kind))
				} else {
					tKind = append(tKind, timed(kind))
					tUnknown = append(tUnknown, timed(unknown))
				}
			}
			ratios := make([]float64, len(tKind))
			for i := range tKind {
				ratios[i] = tKind[i] / tUnknown[i]
			}
			b.ReportMetric(median(tKind), "kind-ms/op")
			b.ReportMetric(median(tUnknown), "unknown-ms/op")
			b.ReportMetric(median(ratios), "x-unknown")
		})
	}
}

// median returns the median of xs (which it sorts).
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
