package store

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/accountvault/accountvault/crypto/betterauth"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/betterauthtest"
)

// FuzzOpenLegacy checks how a legacy token value is taken, in each
// better-auth mode (mode%3: undeclared, declared plaintext, secrets) and
// column (col%3): no panic; a value returned unopened is the value itself
// and never one that better-auth's shape makes ambiguous (a "$ba$"
// value, or bare hex when no mode is declared, in an access or refresh
// token); an opened value is text; every refusal is a *BetterAuthError
// wrapping ErrBetterAuthCiphertext whose message holds no part of the
// value. The seed corpus (testdata/fuzz/FuzzOpenLegacy) holds values
// better-auth 1.7.25 wrote (testdata/betterauth), in each mode and column.
func FuzzOpenLegacy(f *testing.F) {
	env := betterauthtest.Load(f).Fixture(f, "sqlite-versioned").Env
	secrets, err := betterauth.Parse(env.Secrets, env.Secret) // the seeds' secrets
	if err != nil {
		f.Fatal(err)
	}
	modes := []betterAuthMode{{}, {plaintext: true}, {secrets: secrets}}
	opened := 0
	f.Cleanup(func() {
		// The seeds run first, in one process: the fixture's values open.
		if !testing.Short() && f.Name() == "FuzzOpenLegacy" && opened == 0 && !fuzzing() {
			f.Error("no seed opened under the fixture's secrets")
		}
	})
	f.Fuzz(func(t *testing.T, v []byte, mode, col uint8) {
		m := modes[int(mode)%len(modes)]
		c := envelope.Column(int(col) % envelope.NumColumns)
		orig := bytes.Clone(v)
		tok, encrypted, err := m.openLegacy(c, v)
		if !bytes.Equal(v, orig) {
			t.Fatal("openLegacy modified its input")
		}
		envelopeForm := bytes.HasPrefix(v, []byte(betterauth.EnvelopePrefix))
		if err != nil {
			var be *BetterAuthError
			if !errors.As(err, &be) || !errors.Is(err, ErrBetterAuthCiphertext) || tok != nil || encrypted {
				t.Fatalf("refusal %v (%T), token %v, encrypted %v", err, err, tok != nil, encrypted)
			}
			if len(v) >= 12 && strings.Contains(err.Error(), string(v[len(v)-12:])) {
				t.Fatal("the error holds part of the value")
			}
			return
		}
		if encrypted {
			if m.secrets == nil || c == envelope.IDToken || !betterauth.LooksEncrypted(v) {
				t.Fatalf("opened a value in mode %s, column %s", m, c)
			}
			if len(tok) == 0 || !utf8.Valid(tok) || bytes.IndexByte(tok, 0) >= 0 {
				t.Fatal("opened to bytes that are not a token")
			}
			opened++
			return
		}
		if !bytes.Equal(tok, v) {
			t.Fatal("an unopened value returned changed")
		}
		if envelopeForm {
			t.Fatalf("a $ba$ value taken as a token in mode %s, column %s", m, c)
		}
		if c != envelope.IDToken && betterauth.LooksEncrypted(v) && !m.plaintext {
			t.Fatalf("a value of better-auth's shape taken as a token in mode %s, column %s", m, c)
		}
	})
}

// fuzzing reports whether the test binary runs with -test.fuzz.
func fuzzing() bool {
	fl := flag.Lookup("test.fuzz")
	return fl != nil && fl.Value.String() != ""
}
