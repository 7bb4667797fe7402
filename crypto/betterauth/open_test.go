package betterauth_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/accountvault/accountvault/crypto/betterauth"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/betterauthtest"
)

// Test secrets of the versioned fixture (also in the manifest).
const (
	secLegacy = "fixture-legacy-secret-5b8e2a4c6d0f1a3e7c9b5d2f8a4e6c1b"
	secV1     = "fixture-v1-secret-2c7a9e1b4d6f8a0c3e5b7d9f1a2c4e6b8d"
	secV2     = "fixture-v2-secret-8e4c2a6b0d9f7e5c3a1b8d6f4e2c0a9b7f"
)

// seal is better-auth's rawEncrypt, with a chosen nonce: the lowercase hex
// of nonce || XChaCha20-Poly1305(SHA-256(secret), nonce, plaintext).
// Values that prove compatibility come from the fixtures; seal makes the
// edge cases better-auth would never write.
func seal(secret string, nonce byte, plaintext []byte) string {
	return sealWithNonce(secret, bytes.Repeat([]byte{nonce}, chacha20poly1305.NonceSizeX), plaintext)
}

func sealWithNonce(secret string, nonce, plaintext []byte) string {
	key := sha256.Sum256([]byte(secret))
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic(err)
	}
	return hex.EncodeToString(aead.Seal(bytes.Clone(nonce), nonce, plaintext, nil))
}

func mustParse(t testing.TB, secrets, secret string) *betterauth.Secrets {
	t.Helper()
	s, err := betterauth.Parse(secrets, secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// versionedFixture returns the versioned SQLite fixture: bare values under
// the legacy secret, $ba$1$ and $ba$2$ envelopes.
func versionedFixture(t *testing.T) *betterauthtest.Fixture {
	t.Helper()
	f := betterauthtest.Load(t).Fixture(t, "sqlite-versioned")
	if f.Env.Secret != secLegacy || f.Env.Secrets != "2:"+secV2+",1:"+secV1 {
		t.Fatal("the versioned fixture's secrets are not the ones this test names")
	}
	return f
}

// encrypted returns the fixture's encrypted token values of each form.
func encrypted(f *betterauthtest.Fixture) map[string][]*betterauthtest.Token {
	out := map[string][]*betterauthtest.Token{}
	for _, a := range f.Accounts {
		for col, tok := range a.Tokens() {
			if col != "idToken" && tok.Form != "plaintext" {
				out[tok.Form] = append(out[tok.Form], tok)
			}
		}
	}
	return out
}

// wantDecrypt checks that err is an *OpenError wrapping ErrBetterAuthDecrypt
// (and ErrNoSecret exactly when noSecret), and that got is nil.
func wantDecrypt(t *testing.T, what string, got []byte, err error, noSecret bool) {
	t.Helper()
	var oe *betterauth.OpenError
	if !errors.Is(err, betterauth.ErrBetterAuthDecrypt) || !errors.As(err, &oe) {
		t.Errorf("%s: error %v, want an *OpenError wrapping ErrBetterAuthDecrypt", what, err)
	}
	if errors.Is(err, betterauth.ErrNoSecret) != noSecret {
		t.Errorf("%s: error %v: errors.Is(ErrNoSecret) = %v, want %v", what, err, !noSecret, noSecret)
	}
	if errors.Is(err, betterauth.ErrNotBetterAuth) {
		t.Errorf("%s: error %v also wraps ErrNotBetterAuth", what, err)
	}
	if got != nil {
		t.Errorf("%s: %d bytes returned with the error", what, len(got))
	}
}

func TestWrongSecret(t *testing.T) {
	f := versionedFixture(t)
	forms := encrypted(f)
	const wrong = "not-the-secret-of-this-deployment-0123456789abcdef"
	cases := []struct {
		name, secrets, secret string
		form                  string
		noSecret              bool
	}{
		{"bare, wrong unversioned secret", "2:" + secV2 + ",1:" + secV1, wrong, "hex", false},
		{"bare, a versioned secret as the unversioned one", "", secV1, "hex", false},
		{"bare, no unversioned secret", "2:" + secV2 + ",1:" + secV1, "", "hex", true},
		{"v1, wrong secret of version 1", "2:" + secV2 + ",1:" + wrong, secLegacy, "v1", false},
		{"v1, version 2's secret as version 1", "1:" + secV2, "", "v1", false},
		{"v1, only an unversioned secret", "", secV1, "v1", true},
		{"v2, wrong secret of version 2", "2:" + wrong + ",1:" + secV1, secLegacy, "v2", false},
		{"v2, no secret of version 2", "3:" + secV2 + ",1:" + secV1, secLegacy, "v2", true},
	}
	for _, c := range cases {
		s := mustParse(t, c.secrets, c.secret)
		if len(forms[c.form]) == 0 {
			t.Fatalf("no %s value in the fixture", c.form)
		}
		for _, tok := range forms[c.form] {
			got, err := s.Open([]byte(tok.Stored))
			wantDecrypt(t, c.name, got, err, c.noSecret)
		}
	}
	// A nil *Secrets holds no secret.
	var none *betterauth.Secrets
	for form, toks := range forms {
		for _, tok := range toks {
			got, err := none.Open([]byte(tok.Stored))
			wantDecrypt(t, "nil Secrets, "+form, got, err, true)
		}
	}
}

// TestWrongVersion moves ciphertext between versions: each value opens
// only under the secret of the version it names.
func TestWrongVersion(t *testing.T) {
	f := versionedFixture(t)
	forms := encrypted(f)
	s := mustParse(t, "2:"+secV2+",1:"+secV1, secLegacy)
	body := func(v string) string { return v[strings.LastIndexByte(v, '$')+1:] }
	for _, tok := range forms["v2"] {
		got, err := s.Open([]byte("$ba$1$" + body(tok.Stored)))
		wantDecrypt(t, "v2 ciphertext relabelled v1", got, err, false)
		got, err = s.Open([]byte(body(tok.Stored)))
		wantDecrypt(t, "v2 ciphertext without its envelope", got, err, false)
		got, err = s.Open([]byte("$ba$7$" + body(tok.Stored)))
		wantDecrypt(t, "v2 ciphertext relabelled v7", got, err, true)
		var oe *betterauth.OpenError
		if errors.As(err, &oe) && (!oe.Envelope || oe.Version != 7) {
			t.Errorf("OpenError %+v, want Envelope and Version 7", *oe)
		}
	}
	for _, tok := range forms["v1"] {
		got, err := s.Open([]byte("$ba$2$" + body(tok.Stored)))
		wantDecrypt(t, "v1 ciphertext relabelled v2", got, err, false)
	}
	for _, tok := range forms["hex"] {
		got, err := s.Open([]byte("$ba$1$" + tok.Stored))
		wantDecrypt(t, "bare ciphertext in a v1 envelope", got, err, false)
		// Under its own secret as version 0, it opens: the envelope is
		// only a label for the key.
		got, err = mustParse(t, "0:"+secLegacy, "").Open([]byte("$ba$0$" + tok.Stored))
		if err != nil || string(got) != tok.Plaintext {
			t.Errorf("bare ciphertext as $ba$0$ with its secret as version 0: %v", err)
		}
	}
}

// TestTampered changes fixture values in every hex digit, and in their
// framing: nothing opens.
func TestTampered(t *testing.T) {
	f := versionedFixture(t)
	s := mustParse(t, f.Env.Secrets, f.Env.Secret)
	for form, toks := range encrypted(f) {
		v := toks[0].Stored
		start := strings.LastIndexByte(v, '$') + 1 // 0 for bare hex
		for i := start; i < len(v); i++ {
			b := []byte(v)
			// Another hex digit of another value: '0' <-> '1', others to '0'.
			if b[i] == '0' {
				b[i] = '1'
			} else {
				b[i] = '0'
			}
			got, err := s.Open(b)
			wantDecrypt(t, fmt.Sprintf("%s, digit %d changed", form, i-start), got, err, false)
		}
		for name, b := range map[string]string{
			"last byte removed":  v[:len(v)-2],
			"a byte appended":    v + "00",
			"nonce byte removed": v[:start] + v[start+2:],
			"tag only":           v[:start] + v[len(v)-2*16:],
		} {
			got, err := s.Open([]byte(b))
			if err == betterauth.ErrNotBetterAuth && start == 0 && len(b) < 2*41 {
				continue // bare and now too short to have the shape
			}
			wantDecrypt(t, form+", "+name, got, err, false)
		}
		// Upper case decodes to the same bytes, and better-auth's reader
		// (@noble/ciphers hexToBytes) accepts it: it opens.
		up := v[:start] + strings.ToUpper(v[start:])
		if got, err := s.Open([]byte(up)); err != nil || string(got) != toks[0].Plaintext {
			t.Errorf("%s in upper case: %v", form, err)
		}
	}
}

// TestHexTokens covers real plaintext tokens that are hex, as some
// providers issue. Those shorter than any better-auth ciphertext (41
// bytes, 82 digits) or of odd length are not its shape: ErrNotBetterAuth,
// whatever secrets are configured. Longer ones have the shape of bare
// ciphertext and cannot be told from ciphertext under another secret:
// they never open, under any secret, and the error says they may be a
// hex token; they are never reported as ErrNotBetterAuth, which a caller
// would store as a token.
func TestHexTokens(t *testing.T) {
	m := betterauthtest.Load(t)
	var all []*betterauth.Secrets
	for _, f := range m.Fixtures {
		all = append(all, mustParse(t, f.Env.Secrets, f.Env.Secret))
	}
	all = append(all, nil)
	short := []string{
		strings.Repeat("ab", 20),                    // a GitHub classic token: 40 digits
		strings.Repeat("0f", 32),                    // SHA-256 hex: 64 digits
		strings.Repeat("7", 80),                     // 40 bytes: nonce and tag, no plaintext
		strings.Repeat("c", 83),                     // odd
		strings.Repeat("9a", 40) + "9",              // odd
		"deadbeef" + strings.Repeat("00", 60) + "g", // not hex
	}
	var long []string
	for _, fx := range m.Fixtures {
		if fx.Variant != "plain" {
			continue
		}
		for _, a := range fx.Accounts {
			for col, tok := range a.Tokens() {
				if col == "idToken" || !isHex(tok.Stored) {
					continue
				}
				if len(tok.Stored) < 82 {
					short = append(short, tok.Stored)
				} else {
					long = append(long, tok.Stored)
				}
			}
		}
	}
	long = append(long, strings.Repeat("ab", 41), strings.ToUpper(strings.Repeat("5e", 64)))
	if len(long) < 4 || len(short) < 8 {
		t.Fatalf("the plain fixtures hold %d long and %d short hex tokens", len(long)-2, len(short)-6)
	}
	for i, s := range all {
		for _, v := range short {
			if got, err := s.Open([]byte(v)); err != betterauth.ErrNotBetterAuth || got != nil {
				t.Errorf("secrets %d: a %d-digit hex token: %v, want ErrNotBetterAuth", i, len(v), err)
			}
		}
		for _, v := range long {
			got, err := s.Open([]byte(v))
			wantDecrypt(t, fmt.Sprintf("secrets %d: a %d-digit hex token", i, len(v)), got, err, !s.HasUnversioned())
			if s.HasUnversioned() && (err == nil || !strings.Contains(err.Error(), "a plaintext token that happens to be hex")) {
				t.Errorf("secrets %d: the error does not say the value may be a hex token: %v", i, err)
			}
		}
	}
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// TestBounds covers the sizes around the limits, with values sealed the
// way better-auth seals them.
func TestBounds(t *testing.T) {
	if betterauth.MaxPlaintext != envelope.MaxPlaintext {
		t.Errorf("MaxPlaintext %d, envelope.MaxPlaintext %d", betterauth.MaxPlaintext, envelope.MaxPlaintext)
	}
	s := mustParse(t, "4294967295:"+secV2+",0:"+secV1, secLegacy)
	for _, n := range []int{1, 2, 1000, betterauth.MaxPlaintext} {
		pt := bytes.Repeat([]byte{'t'}, n)
		for _, v := range []string{
			seal(secLegacy, 1, pt),
			"$ba$0$" + seal(secV1, 2, pt),
			"$ba$4294967295$" + seal(secV2, 3, pt),
		} {
			got, err := s.Open([]byte(v))
			if err != nil || !bytes.Equal(got, pt) {
				t.Errorf("a %d-byte token (%.14s...): %v", n, v, err)
			}
			if !betterauth.LooksEncrypted([]byte(v)) {
				t.Errorf("LooksEncrypted is false for a %d-byte token", n)
			}
		}
	}
	// Empty plaintext: better-auth never encrypts an empty token.
	if _, err := s.Open([]byte(seal(secLegacy, 1, nil))); err != betterauth.ErrNotBetterAuth {
		t.Errorf("bare, empty plaintext: %v, want ErrNotBetterAuth", err)
	}
	got, err := s.Open([]byte("$ba$0$" + seal(secV1, 1, nil)))
	wantDecrypt(t, "envelope, empty plaintext", got, err, false)
	// One byte over MaxPlaintext.
	over := bytes.Repeat([]byte{'t'}, betterauth.MaxPlaintext+1)
	if _, err := s.Open([]byte(seal(secLegacy, 1, over))); err != betterauth.ErrNotBetterAuth {
		t.Errorf("bare, MaxPlaintext+1 bytes: %v, want ErrNotBetterAuth", err)
	}
	got, err = s.Open([]byte("$ba$0$" + seal(secV1, 1, over)))
	wantDecrypt(t, "envelope, MaxPlaintext+1 bytes", got, err, false)
	got, err = s.Open(append([]byte("$ba$0$"), make([]byte, betterauth.MaxValueSize)...))
	wantDecrypt(t, "envelope longer than MaxValueSize", got, err, false)
	if _, err := s.Open(bytes.Repeat([]byte{'a'}, betterauth.MaxValueSize+2)); err != betterauth.ErrNotBetterAuth {
		t.Errorf("hex longer than MaxValueSize: %v, want ErrNotBetterAuth", err)
	}
}

// TestMalformedEnvelope: a value that begins with $ba$ is better-auth's by
// its own claim: it opens or fails with ErrBetterAuthDecrypt, never
// ErrNotBetterAuth.
func TestMalformedEnvelope(t *testing.T) {
	s := mustParse(t, "1:"+secV1+",0:"+secV2, secLegacy)
	good := seal(secV1, 9, []byte("ya29.token"))
	if got, err := s.Open([]byte("$ba$1$" + good)); err != nil || string(got) != "ya29.token" {
		t.Fatalf("the well-formed envelope does not open: %v", err)
	}
	for _, v := range []string{
		"$ba$", "$ba$1", "$ba$1$", "$ba$$" + good, "$ba$01$" + good, "$ba$+1$" + good, "$ba$-1$" + good,
		"$ba$ 1$" + good, "$ba$1 $" + good, "$ba$1.0$" + good, "$ba$0x1$" + good, "$ba$1e0$" + good,
		"$ba$4294967296$" + good, "$ba$99999999999$" + good, "$ba$1$" + good + " ", "$ba$1$ " + good,
		"$ba$1$$" + good, "$ba$1$" + good[:len(good)-1], "$ba$1$" + good + "0", "$ba$1$" + strings.Repeat("00", 40),
		"$ba$1$" + good[:len(good)-2] + "zz", "$ba$1$\x00" + good,
	} {
		got, err := s.Open([]byte(v))
		wantDecrypt(t, fmt.Sprintf("%q", v[:min(len(v), 20)]), got, err, false)
		if !betterauth.LooksEncrypted([]byte(v)) {
			t.Errorf("LooksEncrypted(%.20q) is false", v)
		}
	}
}

// TestNotBetterAuth: values without the shape are refused without
// decrypting, whatever the secrets; LooksEncrypted agrees.
func TestNotBetterAuth(t *testing.T) {
	s := mustParse(t, "1:"+secV1, secLegacy)
	good := seal(secLegacy, 5, []byte("gho_16C7e42F292c6912E7710c838347Ae178B4a"))
	for _, v := range []string{
		"", "ya29.a0AfB_token", "gho_16C7e42F292c6912E7710c838347Ae178B4a", "$ba", "$BA$1$" + good, " $ba$1$" + good,
		"ba$1$" + good, good + " ", " " + good, good[:len(good)-1], good + "\n", "0x" + good,
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
	} {
		got, err := s.Open([]byte(v))
		if err != betterauth.ErrNotBetterAuth || got != nil {
			t.Errorf("%.20q: %v, want ErrNotBetterAuth", v, err)
		}
		if betterauth.LooksEncrypted([]byte(v)) {
			t.Errorf("LooksEncrypted(%.20q) is true", v)
		}
	}
	if got, err := s.Open([]byte(good)); err != nil || string(got) != "gho_16C7e42F292c6912E7710c838347Ae178B4a" {
		t.Errorf("the unaltered value does not open: %v", err)
	}
}

// TestOpenDoesNotAlias: the result is a fresh buffer, and the input is
// not modified.
func TestOpenDoesNotAlias(t *testing.T) {
	s := mustParse(t, "", secLegacy)
	v := []byte(seal(secLegacy, 3, []byte("token-value")))
	orig := bytes.Clone(v)
	got, err := s.Open(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v, orig) {
		t.Error("Open modified its input")
	}
	got[0] ^= 1
	if !bytes.Equal(v, orig) {
		t.Error("the result aliases the input")
	}
}

// TestAllocationBounded: a value over the limit, or without the shape,
// costs no buffer of its size; a bare value that fails costs one buffer
// of half its size and a few small objects.
func TestAllocationBounded(t *testing.T) {
	s := mustParse(t, "1:"+secV1, secLegacy)
	huge := bytes.Repeat([]byte{'a'}, 4<<20)
	hugeEnv := append([]byte("$ba$1$"), huge...)
	notHex := append(bytes.Repeat([]byte{'a'}, 1000), 'z')
	for _, c := range []struct {
		name      string
		v         []byte
		maxAllocs float64
		maxBytes  uint64 // per Open, with slack for whatever else the process allocates
	}{
		{"4 MiB of hex", huge, 0, 4096},
		{"4 MiB envelope", hugeEnv, 1, 4096},
		{"1 KiB, last not hex", notHex, 0, 4096},
		{"1 KiB bare hex", notHex[:1000], 8, 500 + 4096},
	} {
		open := func() {
			if _, err := s.Open(c.v); err == nil {
				t.Fatalf("%s opened", c.name)
			}
		}
		if n := testing.AllocsPerRun(20, open); n > c.maxAllocs {
			t.Errorf("%s: %v allocations per Open, want at most %v", c.name, n, c.maxAllocs)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 20
		for range runs {
			open()
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > c.maxBytes {
			t.Errorf("%s: %d bytes allocated per Open, want at most %d", c.name, per, c.maxBytes)
		}
	}
}

// messageTemplates are every error message of the package with numbers
// replaced by N: no message carries anything else (a value, a token, a
// secret).
var messageTemplates = map[string]bool{
	"betterauth: bare hex value does not open: no unversioned secret (BETTER_AUTH_SECRET) is configured":                                                         true,
	"betterauth: bare hex value does not open: authentication failed (a wrong or missing secret, an altered value, or a plaintext token that happens to be hex)": true,
	"betterauth: $ba$ value does not open: longer than N bytes":                                                                                                  true,
	"betterauth: $ba$ value does not open: no $ after the version":                                                                                               true,
	"betterauth: $ba$ value does not open: the version is not a canonical decimal number up to N":                                                                true,
	"betterauth: $ba$ value of secret version N does not open: the ciphertext is not an even number of hex digits encoding N to N bytes":                         true,
	"betterauth: $ba$ value of secret version N does not open: no secret of this version is configured":                                                          true,
	"betterauth: $ba$ value of secret version N does not open: authentication failed":                                                                            true,
	"betterauth: not a better-auth encrypted value":                                                                                                              true,
	"betterauth: no secret given (BETTER_AUTH_SECRETS or BETTER_AUTH_SECRET)":                                                                                    true,
	"betterauth: BETTER_AUTH_SECRET: the secret is not valid UTF-N":                                                                                              true,
	"betterauth: BETTER_AUTH_SECRET: the secret is longer than N bytes":                                                                                          true,
	"betterauth: BETTER_AUTH_SECRETS has N entries, more than N":                                                                                                 true,
	"betterauth: BETTER_AUTH_SECRETS entry N is not of the form version:secret":                                                                                  true,
	"betterauth: BETTER_AUTH_SECRETS entry N: the version is not a decimal number from N to N":                                                                   true,
	"betterauth: BETTER_AUTH_SECRETS entry N (version N): empty secret":                                                                                          true,
	"betterauth: BETTER_AUTH_SECRETS entry N (version N): the secret is not valid UTF-N":                                                                         true,
	"betterauth: BETTER_AUTH_SECRETS entry N (version N): the secret is longer than N bytes":                                                                     true,
	"betterauth: BETTER_AUTH_SECRETS entry N: version N occurs twice":                                                                                            true,
}

var digits = regexp.MustCompile(`[0-9]+`)

// checkMessage fails t if err's message is not one of messageTemplates.
func checkMessage(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if msg := digits.ReplaceAllString(err.Error(), "N"); !messageTemplates[msg] {
		t.Errorf("unexpected error message (numbers as N): %s", msg)
	}
}

func TestParse(t *testing.T) {
	ok := []struct {
		name, secrets, secret string
		versions              []uint32
		unversioned           bool
		opens                 map[string]string // value -> token
	}{
		{"single secret", "", secLegacy, nil, true,
			map[string]string{seal(secLegacy, 1, []byte("a")): "a"}},
		{"secret used as is, spaces included", "", " " + secLegacy + " ", nil, true,
			map[string]string{seal(" "+secLegacy+" ", 1, []byte("a")): "a"}},
		{"versioned list, current first", "2:" + secV2 + ",1:" + secV1, "", []uint32{1, 2}, false,
			map[string]string{"$ba$1$" + seal(secV1, 1, []byte("one")): "one", "$ba$2$" + seal(secV2, 1, []byte("two")): "two"}},
		{"versioned and legacy", "1:" + secV1, secLegacy, []uint32{1}, true,
			map[string]string{seal(secLegacy, 1, []byte("l")): "l", "$ba$1$" + seal(secV1, 1, []byte("v")): "v"}},
		{"trimmed as JavaScript trims", " \t2 :\u00a0" + secV2 + "\ufeff ,\n1:" + secV1 + "\u3000", "", []uint32{1, 2}, false,
			map[string]string{"$ba$2$" + seal(secV2, 1, []byte("x")): "x", "$ba$1$" + seal(secV1, 1, []byte("y")): "y"}},
		{"U+0085 is not JavaScript white space", "1:" + secV1 + "\u0085", "", []uint32{1}, false,
			map[string]string{"$ba$1$" + seal(secV1+"\u0085", 1, []byte("z")): "z"}},
		{"a colon in the secret", "7:a:b:c", "", []uint32{7}, false,
			map[string]string{"$ba$7$" + seal("a:b:c", 1, []byte("c")): "c"}},
		{"version 0 and the largest", "0:" + secV1 + ",4294967295:" + secV2, "", []uint32{0, 4294967295}, false,
			map[string]string{"$ba$0$" + seal(secV1, 1, []byte("0")): "0", "$ba$4294967295$" + seal(secV2, 1, []byte("m")): "m"}},
		{"non-ASCII secret", "3:clé-secrète-🔑", "", []uint32{3}, false,
			map[string]string{"$ba$3$" + seal("clé-secrète-🔑", 1, []byte("u")): "u"}},
	}
	for _, c := range ok {
		s, err := betterauth.Parse(c.secrets, c.secret)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if fmt.Sprint(s.Versions()) != fmt.Sprint(c.versions) || s.HasUnversioned() != c.unversioned {
			t.Errorf("%s: versions %v unversioned %v, want %v %v", c.name, s.Versions(), s.HasUnversioned(), c.versions, c.unversioned)
		}
		for v, want := range c.opens {
			if got, err := s.Open([]byte(v)); err != nil || string(got) != want {
				t.Errorf("%s: a value does not open: %v", c.name, err)
			}
		}
	}
	// Leading zeros, as JavaScript's parseInt reads them.
	if s, err := betterauth.Parse("007:"+secV1+",000:"+secV2, ""); err != nil || fmt.Sprint(s.Versions()) != "[0 7]" {
		t.Errorf("007 and 000: %v, %v", s, err)
	}

	bad := []struct{ name, secrets, secret string }{
		{"nothing", "", ""},
		{"no colon", secV1, ""},
		{"empty entry", "1:" + secV1 + ",,2:" + secV2, ""},
		{"trailing comma", "1:" + secV1 + ",", ""},
		{"only white space", " ", ""},
		{"empty secret", "1:", ""},
		{"white space secret", "1: \t", ""},
		{"empty version", ":" + secV1, ""},
		{"negative version", "-1:" + secV1, ""},
		{"signed version", "+1:" + secV1, ""},
		{"version with junk (parseInt would read 1)", "1abc:" + secV1, ""},
		{"hex version", "0x1:" + secV1, ""},
		{"version over 32 bits", "4294967296:" + secV1, ""},
		{"duplicate version", "1:" + secV1 + ",1:" + secV2, ""},
		{"duplicate version with leading zero", "1:" + secV1 + ",01:" + secV2, ""},
		{"invalid UTF-8 secret", "", "secret\xff"},
		{"invalid UTF-8 versioned secret", "1:secret\xc3", ""},
		{"secret too long", "", strings.Repeat("s", betterauth.MaxSecretSize+1)},
		{"versioned secret too long", "1:" + strings.Repeat("s", betterauth.MaxSecretSize+1), ""},
		{"too many entries", strings.Repeat("1:a,", betterauth.MaxVersions) + "2:b", ""},
	}
	for _, c := range bad {
		s, err := betterauth.Parse(c.secrets, c.secret)
		if err == nil {
			t.Errorf("%s: Parse succeeded: %v", c.name, s)
			continue
		}
		checkMessage(t, err)
		for _, secret := range []string{secV1, secV2, "secret\xff", "secret\xc3", strings.Repeat("s", 64)} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error holds a secret", c.name)
			}
		}
	}
	// Exactly MaxVersions entries, of the largest secrets: accepted.
	var entries []string
	for i := range betterauth.MaxVersions {
		entries = append(entries, strconv.Itoa(i)+":"+strings.Repeat("s", betterauth.MaxSecretSize))
	}
	if _, err := betterauth.Parse(strings.Join(entries, ","), strings.Repeat("s", betterauth.MaxSecretSize)); err != nil {
		t.Errorf("MaxVersions entries of MaxSecretSize: %v", err)
	}
}

// TestFormatHidesSecrets: no fmt verb prints a secret or a key.
func TestFormatHidesSecrets(t *testing.T) {
	s := mustParse(t, "2:"+secV2+",1:"+secV1, secLegacy)
	var forbidden []string
	for _, sec := range []string{secLegacy, secV1, secV2} {
		k := sha256.Sum256([]byte(sec))
		forbidden = append(forbidden, sec, hex.EncodeToString(k[:]), hex.EncodeToString(k[:8]), string(k[:8]), fmt.Sprint(k[:4]))
	}
	type holder struct {
		secrets *betterauth.Secrets
		value   betterauth.Secrets
	}
	h := holder{s, *s}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %p"} {
		for _, arg := range []any{s, *s, h, &h, []any{s}} {
			out := fmt.Sprintf(verb, arg)
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Errorf("fmt %s of %T prints a secret or key", verb, arg)
				}
			}
		}
	}
	if got := fmt.Sprint(s); got != "betterauth.Secrets{versions: [1 2], unversioned: true}" {
		t.Errorf("Sprint = %q", got)
	}
}

// TestErrorMessages: every failure's message is a fixed template, with
// no part of the value, token or secret.
func TestErrorMessages(t *testing.T) {
	f := versionedFixture(t)
	secrets := []*betterauth.Secrets{
		nil,
		mustParse(t, f.Env.Secrets, f.Env.Secret),
		mustParse(t, "9:"+secV1, "another-secret-altogether-00000000000"),
	}
	var values []string
	for _, toks := range encrypted(f) {
		for _, tok := range toks {
			v := tok.Stored
			values = append(values, v, v[:len(v)-2], "$ba$1$"+v[strings.LastIndexByte(v, '$')+1:], "$ba$"+v)
		}
	}
	values = append(values, "$ba$", "$ba$12345678901$00", "$ba$1$zz", strings.Repeat("ab", 50), "plain")
	for _, s := range secrets {
		for _, v := range values {
			_, err := s.Open([]byte(v))
			checkMessage(t, err)
		}
	}
}

// TestConcurrentOpen: one Secrets opens values from many goroutines (run
// with -race).
func TestConcurrentOpen(t *testing.T) {
	f := versionedFixture(t)
	s := mustParse(t, f.Env.Secrets, f.Env.Secret)
	var toks []*betterauthtest.Token
	for _, list := range encrypted(f) {
		toks = append(toks, list...)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 50 {
				tok := toks[(g+i)%len(toks)]
				got, err := s.Open([]byte(tok.Stored))
				if err != nil || string(got) != tok.Plaintext {
					errs <- fmt.Errorf("goroutine %d: a value does not open to its token: %v", g, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
