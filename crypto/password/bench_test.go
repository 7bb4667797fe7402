package password

import (
	"context"
	"testing"

	"golang.org/x/crypto/argon2"
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
	{"default", DefaultPolicy},
	{"owasp", OWASPPolicy},
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
		parsed, err := parsePHC(stored, DefaultBounds)
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
