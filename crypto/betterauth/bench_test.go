package betterauth_test

import (
	"testing"

	"github.com/accountvault/accountvault/internal/betterauthtest"
)

// BenchmarkOpen measures Open on token-sized values of the versioned
// fixture: a plaintext token (refused on its shape, the baseline), a bare
// value and a $ba$2$ envelope (hex decoding and one XChaCha20-Poly1305
// opening each).
func BenchmarkOpen(b *testing.B) {
	f := betterauthtest.Load(b).Fixture(b, "sqlite-versioned")
	s := mustParse(b, f.Env.Secrets, f.Env.Secret)
	var bare, env string
	for _, a := range f.Accounts {
		if a.User == "dave" && a.AccessToken != nil {
			bare = a.AccessToken.Stored
		}
		if a.User == "grace" && a.AccessToken != nil {
			env = a.AccessToken.Stored
		}
	}
	for _, c := range []struct{ name, v string }{
		{"plaintext", "ya29.a0AfB_fixture-dave-access-1"},
		{"bare", bare},
		{"envelope", env},
	} {
		v := []byte(c.v)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(v)))
			for b.Loop() {
				if _, err := s.Open(v); err != nil && c.name != "plaintext" {
					b.Fatal(err)
				}
			}
		})
	}
}
