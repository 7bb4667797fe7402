package betterauth_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/accountvault/accountvault/crypto/betterauth"
)

// The seed corpora under testdata/fuzz/ are written from the versioned
// fixture by TestSeedCorpus with -update: every encrypted value (bare,
// $ba$1$, $ba$2$), hex and JWT plaintext tokens, and malformed envelopes.

var update = flag.Bool("update", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// fuzzSecrets are the versioned fixture's secrets, so that seeds open.
func fuzzSecrets(t testing.TB) *betterauth.Secrets {
	return mustParse(t, "2:"+secV2+",1:"+secV1, secLegacy)
}

// FuzzOpen checks Open on arbitrary values: no panic; ErrNotBetterAuth
// exactly when LooksEncrypted is false; otherwise an *OpenError whose
// message is a fixed template, or a plaintext of 1 to MaxPlaintext bytes
// that re-seals, under the value's own nonce, to the value (up to the
// case of its hex digits).
func FuzzOpen(f *testing.F) {
	f.Add([]byte("$ba$"))
	f.Add([]byte("$ba$0$"))
	f.Add(bytes.Repeat([]byte("0"), 82))
	s := fuzzSecrets(f)
	keys := map[string]string{"": secLegacy, "1": secV1, "2": secV2}
	f.Fuzz(func(t *testing.T, v []byte) {
		orig := bytes.Clone(v)
		got, err := s.Open(v)
		if !bytes.Equal(v, orig) {
			t.Fatal("Open modified its input")
		}
		looks := betterauth.LooksEncrypted(v)
		if (err == betterauth.ErrNotBetterAuth) == looks {
			t.Fatalf("LooksEncrypted %v, error %v", looks, err)
		}
		if err != nil {
			if got != nil {
				t.Fatal("a result with an error")
			}
			if err != betterauth.ErrNotBetterAuth {
				var oe *betterauth.OpenError
				if !errors.As(err, &oe) || !errors.Is(err, betterauth.ErrBetterAuthDecrypt) {
					t.Fatalf("error %v is not an *OpenError wrapping ErrBetterAuthDecrypt", err)
				}
				if oe.Envelope != bytes.HasPrefix(v, []byte("$ba$")) {
					t.Fatalf("OpenError.Envelope %v", oe.Envelope)
				}
			}
			checkMessage(t, err)
			return
		}
		if len(got) < 1 || len(got) > betterauth.MaxPlaintext {
			t.Fatalf("opened to %d bytes", len(got))
		}
		version, body := "", string(v)
		if rest, ok := strings.CutPrefix(body, "$ba$"); ok {
			version, body, _ = strings.Cut(rest, "$")
		}
		nonce, err := hex.DecodeString(body[:48])
		if err != nil {
			t.Fatal(err)
		}
		if re := sealWithNonce(keys[version], nonce, got); re != strings.ToLower(body) {
			t.Fatal("the plaintext does not re-seal to the value")
		}
	})
}

// FuzzParse checks Parse on arbitrary settings: no panic; errors are fixed
// templates; what it accepts holds sorted, unique versions, and an
// unversioned secret exactly when secret is not empty.
func FuzzParse(f *testing.F) {
	f.Add("2:"+secV2+",1:"+secV1, secLegacy)
	f.Add(" 007 : a:b , 0:\ufeffc\u0085", "")
	f.Add("1:a,,2:b", "x")
	f.Add("", "")
	f.Add("4294967296:a", "")
	f.Fuzz(func(t *testing.T, secrets, secret string) {
		s, err := betterauth.Parse(secrets, secret)
		if err != nil {
			if s != nil {
				t.Fatal("Secrets with an error")
			}
			checkMessage(t, err)
			return
		}
		vs := s.Versions()
		if !slices.IsSorted(vs) || len(slices.Compact(slices.Clone(vs))) != len(vs) {
			t.Fatalf("versions %v", vs)
		}
		if s.HasUnversioned() != (secret != "") {
			t.Fatalf("HasUnversioned %v with a secret of %d bytes", s.HasUnversioned(), len(secret))
		}
		if secrets == "" && len(vs) != 0 || secrets != "" && len(vs) != strings.Count(secrets, ",")+1 {
			t.Fatalf("%d versions from %d entries", len(vs), strings.Count(secrets, ",")+1)
		}
		// Each version opens a value sealed with its trimmed secret.
		for entry := range strings.SplitSeq(secrets, ",") {
			if secrets == "" {
				break
			}
			entry = strings.TrimFunc(entry, jsSpace)
			vtext, sec, _ := strings.Cut(entry, ":")
			vtext = strings.TrimLeft(strings.TrimFunc(vtext, jsSpace), "0")
			if vtext == "" {
				vtext = "0"
			}
			v := "$ba$" + vtext + "$" + seal(strings.TrimFunc(sec, jsSpace), 7, []byte("t"))
			if got, err := s.Open([]byte(v)); err != nil || string(got) != "t" {
				t.Fatalf("version %s does not open its value: %v", vtext, err)
			}
		}
	})
}

// jsSpace is JavaScript's white space, written independently of the
// package's.
func jsSpace(r rune) bool {
	return strings.ContainsRune("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff", r)
}

// corpusFile is the text of a seed corpus file holding args.
func corpusFile(args ...any) string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch a := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", a)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", a)
		}
	}
	return b.String()
}

// TestSeedCorpus checks the committed seed corpora of FuzzOpen and
// FuzzParse against the fixture (with -update, rewrites them).
func TestSeedCorpus(t *testing.T) {
	f := versionedFixture(t)
	open := map[string]string{}
	for _, a := range f.Accounts {
		for col, tok := range a.Tokens() {
			name := fmt.Sprintf("seed_%s_%s_%s_%s", a.User, a.ProviderID, col, tok.Form)
			open[name] = corpusFile([]byte(tok.Stored))
		}
	}
	for name, v := range map[string]string{
		"seed_hex_token_128":            strings.Repeat("5e", 64),
		"seed_bad_version_leading_zero": "$ba$01$" + seal(secV1, 1, []byte("x")),
		"seed_bad_no_second_dollar":     "$ba$1",
		"seed_ok_v1_edge":               "$ba$1$" + seal(secV1, 0xff, []byte("x")),
		"seed_ok_bare_upper":            strings.ToUpper(seal(secLegacy, 0xab, []byte("token"))),
	} {
		open[name] = corpusFile([]byte(v))
	}
	parse := map[string]string{
		"seed_fixture_versioned": corpusFile(f.Env.Secrets, f.Env.Secret),
		"seed_js_white_space":    corpusFile("\ufeff2\u3000:\u00a0b\u2028,\t01: a:b ", ""),
		"seed_duplicate":         corpusFile("1:a,001:b", ""),
		"seed_single":            corpusFile("", "s"),
		"seed_bad_utf8":          corpusFile("1:\xff", "\xc3"),
	}
	for target, seeds := range map[string]map[string]string{"FuzzOpen": open, "FuzzParse": parse} {
		dir := filepath.Join("testdata", "fuzz", target)
		if *update {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, body := range seeds {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(seeds) {
			t.Errorf("%s holds %d files, want %d: run go test -run TestSeedCorpus -update", dir, len(entries), len(seeds))
		}
		for name, want := range seeds {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Errorf("%v: run go test -run TestSeedCorpus -update", err)
				continue
			}
			if string(b) != want {
				t.Errorf("%s/%s differs from the fixture: run go test -run TestSeedCorpus -update", target, name)
			}
		}
	}
}
