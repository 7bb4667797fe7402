package password

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/accountvault/accountvault/internal/kdftrace"
)

// TestArgon2Vectors checks the hashes written by the reference argon2 tool
// (testdata/argon2-cli.txt) and the hashes this package wrote and the tool
// reproduced (testdata/argon2-ours.txt): each verifies, a wrong password
// does not, and this package's encoder writes the very same string from
// the same password, salt and parameters.
func TestArgon2Vectors(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, WithPolicy(DefaultPolicy()), WithConcurrency(1))
	for _, file := range []string{"testdata/argon2-cli.txt", "testdata/argon2-ours.txt"} {
		for _, v := range readVectors(t, file) {
			stored := v.fields[0]
			p, err := parsePHC(stored, DefaultBounds())
			if err != nil {
				t.Fatalf("%s:%d: %v", file, v.line, err)
			}
			if raceEnabled && p.memory > 64<<10 {
				t.Logf("%s:%d: skipped under the race detector (m=%d)", file, v.line, p.memory)
				continue
			}
			match, upgrade, err := h.Verify(ctx, v.password, stored)
			if err != nil || !match {
				t.Errorf("%s:%d: Verify = %v, %v; want a match", file, v.line, match, err)
			}
			if want := !p.matches(DefaultPolicy()); upgrade != want {
				t.Errorf("%s:%d: needsUpgrade = %v, want %v", file, v.line, upgrade, want)
			}
			pw, err := normalize(v.password)
			if err != nil {
				t.Fatal(err)
			}
			pol := Policy{Memory: p.memory, Time: p.time, Threads: p.threads, SaltLen: uint32(len(p.salt)), KeyLen: uint32(len(p.key))}
			if hashArgon2idSalt(pw, p.salt, pol) != stored {
				t.Errorf("%s:%d: this package's encoding differs from the vector", file, v.line)
			}
			if p.memory <= 1024 { // keep the wrong-password checks cheap
				if match, _, err := h.Verify(ctx, v.password+"x", stored); err != nil || match {
					t.Errorf("%s:%d: wrong password: Verify = %v, %v", file, v.line, match, err)
				}
			}
		}
	}
}

// TestArgon2VectorsNFKC checks that a password in another Unicode form
// verifies against the reference tool's hash of its NFKC form.
func TestArgon2VectorsNFKC(t *testing.T) {
	h := newHasher(t, WithPolicy(smallPolicy))
	var office string
	for _, v := range readVectors(t, "testdata/argon2-cli.txt") {
		if v.password == "office" {
			office = v.fields[0]
		}
	}
	if office == "" {
		t.Fatal("no vector for \"office\"")
	}
	for _, pw := range []string{"office", "o\uFB03ce", "o\uFB00ice", "ｏｆｆｉｃｅ"} {
		if match, _, err := h.Verify(context.Background(), pw, office); err != nil || !match {
			t.Errorf("%q: Verify = %v, %v", pw, match, err)
		}
	}
	if match, _, err := h.Verify(context.Background(), "Office", office); err != nil || match {
		t.Errorf("\"Office\": Verify = %v, %v; NFKC does not fold case", match, err)
	}
}

// TestArgon2CLILive hashes with this package and asks the reference tool,
// if installed, for the same hash. It also replays argon2-ours.txt.
func TestArgon2CLILive(t *testing.T) {
	bin, err := exec.LookPath("argon2")
	if err != nil {
		t.Skip("argon2 (the reference tool, Debian package argon2) is not installed")
	}
	theirs := func(t *testing.T, pw []byte, p phc) string {
		t.Helper()
		cmd := exec.Command(bin, string(p.salt), "-id",
			"-t", strconv.Itoa(int(p.time)), "-k", strconv.Itoa(int(p.memory)),
			"-p", strconv.Itoa(int(p.threads)), "-l", strconv.Itoa(len(p.key)), "-e")
		cmd.Stdin = strings.NewReader(string(pw))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("argon2: %v", err)
		}
		return strings.TrimSuffix(string(out), "\n")
	}

	ctx := context.Background()
	policies := []Policy{
		smallPolicy,
		{Memory: 256, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32},
		{Memory: 1024, Time: 2, Threads: 2, SaltLen: 48, KeyLen: 64},
		{Memory: 32, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 12},
	}
	for i, pol := range policies {
		h := newHasher(t, WithPolicy(pol))
		for _, pw := range []string{"password", "pässwörd", "\uFB01re\u00A0\uFB02y"} {
			var stored string
			var p phc
			for { // argv can not carry a NUL byte: draw salts until one has none
				stored, err = h.Hash(ctx, pw)
				if err != nil {
					t.Fatal(err)
				}
				if p, err = parsePHC(stored, DefaultBounds()); err != nil {
					t.Fatal(err)
				}
				if !strings.ContainsRune(string(p.salt), 0) {
					break
				}
			}
			npw, _ := normalize(pw)
			if got := theirs(t, npw, p); got != stored {
				t.Errorf("policy %d, password of %d bytes: the reference tool wrote a different hash", i, len(pw))
			}
		}
	}
	for _, v := range readVectors(t, "testdata/argon2-ours.txt") {
		p, err := parsePHC(v.fields[0], DefaultBounds())
		if err != nil {
			t.Fatal(err)
		}
		npw, _ := normalize(v.password)
		if theirs(t, npw, p) != v.fields[0] {
			t.Errorf("argon2-ours.txt:%d: the reference tool wrote a different hash", v.line)
		}
	}
}

// TestBetterAuthScryptVectors checks hashes computed by Node's scrypt from
// better-auth's published algorithm (testdata/scrypt-betterauth.mjs).
func TestBetterAuthScryptVectors(t *testing.T) {
	log := watchKDF(t)
	ctx := context.Background()
	h := newHasher(t, WithPolicy(smallPolicy))
	vs := readVectors(t, "testdata/scrypt-betterauth.txt")
	byPassword := map[string]string{}
	for _, v := range vs {
		stored := v.fields[0]
		byPassword[v.password] = stored
		if !h.Recognized(stored) {
			t.Errorf("line %d: not Recognized", v.line)
		}
		match, upgrade, err := h.Verify(ctx, v.password, stored)
		if err != nil || !match || !upgrade {
			t.Errorf("line %d: Verify = %v, %v, %v; want a match needing upgrade", v.line, match, upgrade, err)
		}
		if match, upgrade, err := h.Verify(ctx, v.password+"!", stored); err != nil || match || upgrade {
			t.Errorf("line %d: wrong password: Verify = %v, %v, %v", v.line, match, upgrade, err)
		}
	}
	// Other Unicode forms of the same passwords verify.
	for pw, vec := range map[string]string{
		"first Pass":          "\uFB01rst \uFF30\uFF41\uFF53\uFF53",
		"caf\u00e9":           "cafe\u0301",
		"pa\u0308ssw\u00f6rd": "pässwörd",
	} {
		stored, ok := byPassword[vec]
		if !ok {
			t.Fatalf("no vector for %q", vec)
		}
		if match, _, err := h.Verify(ctx, pw, stored); err != nil || !match {
			t.Errorf("%q: Verify = %v, %v", pw, match, err)
		}
	}
	// Every scrypt derivation has better-auth's parameters; each wrong
	// password (one per vector) also ran one argon2id under the policy.
	nPolicy := 0
	for _, c := range log.Calls() {
		switch {
		case c == policyCall(smallPolicy):
			nPolicy++
		case c.Alg != "scrypt" || c.N != 16384 || c.R != 16 || c.P != 1 || c.KeyLen != 64 || c.SaltLen != 32:
			t.Fatalf("derived %+v", c)
		}
	}
	if nPolicy != len(vs) {
		t.Fatalf("%d wrong passwords ran %d argon2id derivations under the policy", len(vs), nPolicy)
	}
}

func TestBetterAuthScryptMalformed(t *testing.T) {
	log := watchKDF(t)
	h := newHasher(t, WithPolicy(smallPolicy))
	valid := readVectors(t, "testdata/scrypt-betterauth.txt")[0].fields[0]
	for name, in := range map[string]string{
		"uppercase salt":  strings.ToUpper(valid[:32]) + valid[32:],
		"uppercase key":   valid[:33] + strings.ToUpper(valid[33:]),
		"non-hex":         valid[:40] + "g" + valid[41:],
		"short key":       valid[:len(valid)-2],
		"long key":        valid + "00",
		"no colon":        valid[:32] + "-" + valid[33:],
		"colon elsewhere": valid[:31] + ":" + valid[31:32] + valid[33:],
		"spaces":          " " + valid[1:],
		"plaintext":       "hunter2:hunter2",
	} {
		if _, _, err := h.Verify(context.Background(), "password", in); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: got %v, want ErrMalformedHash", name, err)
		}
		if h.Recognized(in) {
			t.Errorf("%s: Recognized", name)
		}
	}
	if log.Count() != 0 {
		t.Fatalf("%d key derivations ran", log.Count())
	}
}

// TestBcryptVectors checks hashes written by crypt(3) and htpasswd
// (testdata/bcrypt.pl).
func TestBcryptVectors(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, WithPolicy(smallPolicy))
	log := watchKDF(t)
	for _, v := range readVectors(t, "testdata/bcrypt.txt") {
		want, stored := v.fields[0], v.fields[1]
		log.Reset()
		match, upgrade, err := h.Verify(ctx, v.password, stored)
		switch want {
		case "match":
			if err != nil || !match || !upgrade {
				t.Errorf("line %d: Verify = %v, %v, %v; want a match needing upgrade", v.line, match, upgrade, err)
			}
			if !h.Recognized(stored) {
				t.Errorf("line %d: not Recognized", v.line)
			}
			if match, _, err := h.Verify(ctx, v.password+"x", stored); len(v.password) < 72 && (err != nil || match) {
				t.Errorf("line %d: wrong password: Verify = %v, %v", v.line, match, err)
			}
		case "toolong":
			// crypt(3) ignores what follows byte 72, and this password's
			// first 72 bytes are the hashed one; it still does not match,
			// after the work of any wrong password: a bcrypt derivation
			// and one argon2id under the policy.
			if err != nil || match || upgrade {
				t.Errorf("line %d: Verify = %v, %v, %v; want no match and no error", v.line, match, upgrade, err)
			}
			cost, _ := strconv.Atoi(stored[4:6])
			if want := []kdftrace.Call{{Alg: "bcrypt", Cost: cost}, policyCall(smallPolicy)}; !slices.Equal(log.Calls(), want) {
				t.Errorf("line %d: derived %+v, want %+v", v.line, log.Calls(), want)
			}
		case "malformed":
			if !errors.Is(err, ErrMalformedHash) || match {
				t.Errorf("line %d: Verify = %v, %v; want ErrMalformedHash", v.line, match, err)
			}
			if h.Recognized(stored) || log.Count() != 0 {
				t.Errorf("line %d: Recognized, or %d key derivations ran", v.line, log.Count())
			}
		default:
			t.Fatalf("line %d: unknown expectation", v.line)
		}
	}
}

func TestBcryptMalformed(t *testing.T) {
	log := watchKDF(t)
	ctx := context.Background()
	h := newHasher(t, WithPolicy(smallPolicy))
	// crypt(3): printf %s password | crypt with setting $2a$04$saltsaltsaltsaltsaltsO
	const valid = "$2a$04$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba"
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"cost 16", "$2a$16" + valid[6:], ErrHashBounds},
		{"cost 31", "$2a$31" + valid[6:], ErrHashBounds},
		{"cost 99", "$2a$99" + valid[6:], ErrHashBounds},
		{"cost 03", "$2a$03" + valid[6:], ErrMalformedHash},
		{"cost 4", "$2a$4$" + valid[6:], ErrMalformedHash},
		{"$2x$", "$2x$" + valid[4:], ErrMalformedHash},
		{"$2$", "$2$" + valid[4:], ErrMalformedHash},
		{"$2c$", "$2c$" + valid[4:], ErrMalformedHash},
		{"$2A$", "$2A$" + valid[4:], ErrMalformedHash},
		{"truncated", valid[:59], ErrMalformedHash},
		{"extra", valid + ".", ErrMalformedHash},
		{"bad alphabet", valid[:20] + "+" + valid[21:], ErrMalformedHash},
		{"non-canonical salt", valid[:28] + "P" + valid[29:], ErrMalformedHash},
		{"non-canonical hash", valid[:59] + "b", ErrMalformedHash},
		{"short", "$2", ErrMalformedHash},
	} {
		if _, _, err := h.Verify(ctx, "password", tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if h.Recognized(tc.in) {
			t.Errorf("%s: Recognized", tc.name)
		}
	}
	if log.Count() != 0 {
		t.Fatalf("%d key derivations ran", log.Count())
	}
	// A lower bound through WithVerifier takes precedence over the built-in.
	h12 := newHasher(t, WithPolicy(smallPolicy), WithVerifier(Bcrypt(4)))
	if _, _, err := h12.Verify(ctx, "password", "$2a$05"+valid[6:]); !errors.Is(err, ErrHashBounds) {
		t.Errorf("cost 5 under Bcrypt(4): got %v, want ErrHashBounds", err)
	}
	if match, _, err := h12.Verify(ctx, "password", valid); err != nil || !match {
		t.Errorf("cost 4 under Bcrypt(4): Verify = %v, %v", match, err)
	}
}
