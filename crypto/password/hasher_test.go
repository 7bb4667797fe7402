package password

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/accountvault/accountvault/internal/kdftrace"
)

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

// TestPackageHash checks the package-level functions and the default
// policy's output format.
func TestPackageHash(t *testing.T) {
	stored, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !phcRE.MatchString(stored) {
		t.Fatalf("Hash wrote a string of %d bytes not in the DefaultPolicy PHC format", len(stored))
	}
	match, upgrade, err := Verify("correct horse battery staple", stored)
	if err != nil || !match || upgrade {
		t.Fatalf("Verify = %v, %v, %v; want a match needing no upgrade", match, upgrade, err)
	}
	match, upgrade, err = Verify("correct horse battery stapler", stored)
	if err != nil || match || upgrade {
		t.Fatalf("wrong password: Verify = %v, %v, %v", match, upgrade, err)
	}
	if _, err := Hash(""); !errors.Is(err, ErrPasswordEmpty) {
		t.Fatalf("Hash(\"\") = %v", err)
	}
}

func TestHashSaltsDiffer(t *testing.T) {
	h := newHasher(t, WithPolicy(smallPolicy))
	seen := map[string]bool{}
	for range 20 {
		s, err := h.Hash(context.Background(), "password")
		if err != nil {
			t.Fatal(err)
		}
		p, err := parsePHC(s, DefaultBounds())
		if err != nil {
			t.Fatal(err)
		}
		if !p.matches(smallPolicy) || h.NeedsUpgrade(s) {
			t.Fatal("a fresh hash does not have the Hasher's policy")
		}
		if seen[string(p.salt)] {
			t.Fatal("two hashes share a salt")
		}
		seen[string(p.salt)] = true
	}
}

func TestPasswordLength(t *testing.T) {
	log := watchKDF(t)
	ctx := context.Background()
	h := newHasher(t, WithPolicy(smallPolicy))
	stored, err := h.Hash(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pw   string
		want error
	}{
		{"empty", "", ErrPasswordEmpty},
		{"MaxPasswordLen+1", strings.Repeat("a", MaxPasswordLen+1), ErrPasswordTooLong},
		{"1 MiB", strings.Repeat("a", 1<<20), ErrPasswordTooLong},
		// 1000 × U+FDFA: 3000 bytes as given, 33000 after NFKC.
		{"expands under NFKC", strings.Repeat("\uFDFA", 1000), ErrPasswordTooLong},
	} {
		log.Reset()
		if _, err := h.Hash(ctx, tc.pw); !errors.Is(err, tc.want) {
			t.Errorf("%s: Hash: got %v, want %v", tc.name, err, tc.want)
		}
		if _, _, err := h.Verify(ctx, tc.pw, stored); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify: got %v, want %v", tc.name, err, tc.want)
		}
		if err := h.VerifyDummy(ctx, tc.pw); !errors.Is(err, tc.want) {
			t.Errorf("%s: VerifyDummy: got %v, want %v", tc.name, err, tc.want)
		}
		if log.Count() != 0 {
			t.Errorf("%s: %d key derivations ran", tc.name, log.Count())
		}
	}
	// The limits themselves are accepted and nothing is truncated.
	long := strings.Repeat("a", MaxPasswordLen)
	s, err := h.Hash(ctx, long)
	if err != nil {
		t.Fatalf("MaxPasswordLen bytes: %v", err)
	}
	if match, _, err := h.Verify(ctx, long, s); err != nil || !match {
		t.Fatalf("MaxPasswordLen bytes: Verify = %v, %v", match, err)
	}
	if match, _, err := h.Verify(ctx, long[:MaxPasswordLen-1]+"b", s); err != nil || match {
		t.Fatalf("last byte changed: Verify = %v, %v", match, err)
	}
	if _, err := h.Hash(ctx, strings.Repeat("\uFDFA", 124)); err != nil { // 372 -> 4092 bytes
		t.Fatalf("expands to just under the limit: %v", err)
	}
}

func TestNFKC(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, WithPolicy(smallPolicy))
	for _, tc := range []struct{ a, b string }{
		{"\uFB01", "fi"},
		{"caf\u00e9", "cafe\u0301"},
		{"ＰＡＳＳ", "PASS"},
		{"x\u00a0y", "x y"},
		{"\u2126", "\u03a9"}, // OHM SIGN, GREEK CAPITAL OMEGA
	} {
		s, err := h.Hash(ctx, tc.a)
		if err != nil {
			t.Fatal(err)
		}
		if match, _, err := h.Verify(ctx, tc.b, s); err != nil || !match {
			t.Errorf("%q hashed, %q does not verify: %v", tc.a, tc.b, err)
		}
	}
	s, err := h.Hash(ctx, "pass")
	if err != nil {
		t.Fatal(err)
	}
	if match, _, _ := h.Verify(ctx, "PASS", s); match {
		t.Error("case is folded")
	}
}

// TestNeedsUpgrade checks upgrade detection for each parameter of the
// policy, in both directions, and for legacy formats.
func TestNeedsUpgrade(t *testing.T) {
	ctx := context.Background()
	pol := Policy{Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
	h := newHasher(t, WithPolicy(pol))
	variants := map[string]Policy{
		"same":       pol,
		"less m":     {Memory: 64, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32},
		"more m":     {Memory: 256, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32},
		"less t":     {Memory: 128, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32},
		"more t":     {Memory: 128, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32},
		"less p":     {Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32},
		"more p":     {Memory: 128, Time: 2, Threads: 4, SaltLen: 16, KeyLen: 32},
		"short salt": {Memory: 128, Time: 2, Threads: 2, SaltLen: 8, KeyLen: 32},
		"long salt":  {Memory: 128, Time: 2, Threads: 2, SaltLen: 32, KeyLen: 32},
		"short key":  {Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 16},
		"long key":   {Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 64},
	}
	for name, p := range variants {
		other := newHasher(t, WithPolicy(p))
		s, err := other.Hash(ctx, "password")
		if err != nil {
			t.Fatal(err)
		}
		want := name != "same"
		if got := h.NeedsUpgrade(s); got != want {
			t.Errorf("%s: NeedsUpgrade = %v, want %v", name, got, want)
		}
		match, upgrade, err := h.Verify(ctx, "password", s)
		if err != nil || !match || upgrade != want {
			t.Errorf("%s: Verify = %v, %v, %v; want true, %v, nil", name, match, upgrade, err, want)
		}
		// A mismatch never asks for an upgrade.
		if match, upgrade, err := h.Verify(ctx, "passwort", s); err != nil || match || upgrade {
			t.Errorf("%s: wrong password: Verify = %v, %v, %v", name, match, upgrade, err)
		}
	}
	for name, s := range map[string]string{
		"bcrypt":    "$2a$04$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba",
		"scrypt":    readVectors(t, "testdata/scrypt-betterauth.txt")[0].fields[0],
		"malformed": "$argon2id$v=19$m=128",
		"plaintext": "password",
		"empty":     "",
	} {
		if !h.NeedsUpgrade(s) {
			t.Errorf("%s: NeedsUpgrade is false", name)
		}
	}
}

// TestVerifyDummy checks that VerifyDummy does the argon2id work of a real
// Verify under the policy: the same number of derivations, with the same
// parameters.
func TestVerifyDummy(t *testing.T) {
	ctx := context.Background()
	log := watchKDF(t)
	for _, pol := range []Policy{smallPolicy, {Memory: 256, Time: 3, Threads: 4, SaltLen: 24, KeyLen: 48}} {
		h := newHasher(t, WithPolicy(pol))
		stored, err := h.Hash(ctx, "password")
		if err != nil {
			t.Fatal(err)
		}
		log.Reset()
		if _, _, err := h.Verify(ctx, "wrong password", stored); err != nil {
			t.Fatal(err)
		}
		real := log.Calls()
		log.Reset()
		if err := h.VerifyDummy(ctx, "wrong password"); err != nil {
			t.Fatal(err)
		}
		dummy := log.Calls()
		if len(real) != 1 || len(dummy) != len(real) || dummy[0] != real[0] {
			t.Fatalf("Verify derived %+v, VerifyDummy %+v", real, dummy)
		}
		want := policyCall(pol)
		if dummy[0] != want {
			t.Fatalf("VerifyDummy derived %+v, want %+v", dummy[0], want)
		}
		// No password matches the dummy hash; the obvious candidates don't.
		for _, pw := range []string{"password", "", "dummy"} {
			if match, _, _ := h.Verify(ctx, pw, h.dummy.encode()); match {
				t.Fatal("a password matches the dummy hash")
			}
		}
	}
}

// TestFailedVerifyDoesThePolicyWork checks, through the derivation hook,
// that a failed verification runs exactly one argon2id derivation with the
// policy's parameters whatever the stored hash, plus the hash's own
// derivation when that is not the policy's: an unknown user
// (VerifyDummy), argon2id at, above and below the policy, better-auth
// scrypt, bcrypt, bcrypt with a password over its 72 bytes, and an
// application's own format. A successful verification runs the hash's own
// derivation only.
func TestFailedVerifyDoesThePolicyWork(t *testing.T) {
	ctx := context.Background()
	pol := Policy{Memory: 256, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
	h := newHasher(t, WithPolicy(pol), WithVerifier(prefixVerifier{kib: 1}))
	argon := func(m, tm uint32, p uint8) (string, kdftrace.Call) {
		q := Policy{Memory: m, Time: tm, Threads: p, SaltLen: 16, KeyLen: 32}
		s, err := newHasher(t, WithPolicy(q)).Hash(ctx, "password")
		if err != nil {
			t.Fatal(err)
		}
		return s, policyCall(q)
	}
	scrypt := readVectors(t, "testdata/scrypt-betterauth.txt")[0]
	const bcrypt4 = "$2a$04$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba" // "password"
	bcryptCall := kdftrace.Call{Alg: "bcrypt", Cost: 4}
	scryptCall := kdftrace.Call{Alg: "scrypt", N: 16384, R: 16, P: 1, KeyLen: 64, SaltLen: 32}
	atPolicy, atPolicyCall := argon(256, 2, 2)
	below, belowCall := argon(64, 1, 1) // cheaper in m and t
	lessM, lessMCall := argon(128, 2, 2)
	lessT, lessTCall := argon(256, 1, 2)
	moreP, morePCall := argon(256, 2, 4)  // the same work spread over more lanes
	mixed, mixedCall := argon(1024, 1, 2) // more memory, fewer passes
	above, aboveCall := argon(512, 3, 1)

	log := watchKDF(t)
	for _, tc := range []struct {
		name       string
		pw, stored string // stored "": VerifyDummy
		own        []kdftrace.Call
		extra      bool // the policy's derivation after the hash's own
	}{
		{"unknown user", "wrong", "", nil, true},
		{"argon2id at policy", "wrong", atPolicy, []kdftrace.Call{atPolicyCall}, false},
		{"argon2id above policy", "wrong", above, []kdftrace.Call{aboveCall}, false},
		{"argon2id below policy", "wrong", below, []kdftrace.Call{belowCall}, true},
		{"argon2id with less memory", "wrong", lessM, []kdftrace.Call{lessMCall}, true},
		{"argon2id with fewer passes", "wrong", lessT, []kdftrace.Call{lessTCall}, true},
		{"argon2id with more lanes", "wrong", moreP, []kdftrace.Call{morePCall}, true},
		{"argon2id with more memory, fewer passes", "wrong", mixed, []kdftrace.Call{mixedCall}, true},
		{"better-auth scrypt", "wrong", scrypt.fields[0], []kdftrace.Call{scryptCall}, true},
		{"bcrypt", "wrong", bcrypt4, []kdftrace.Call{bcryptCall}, true},
		{"bcrypt, password over 72 bytes", "password" + strings.Repeat("!", 72), bcrypt4, []kdftrace.Call{bcryptCall}, true},
		{"own format", "wrong", "plain$x", nil, true},
	} {
		log.Reset()
		var match, upgrade bool
		var err error
		if tc.stored == "" {
			err = h.VerifyDummy(ctx, tc.pw)
		} else {
			match, upgrade, err = h.Verify(ctx, tc.pw, tc.stored)
		}
		if err != nil || match || upgrade {
			t.Errorf("%s: Verify = %v, %v, %v; want no match and no error", tc.name, match, upgrade, err)
			continue
		}
		want := tc.own
		if tc.extra {
			want = append(slices.Clone(want), policyCall(pol))
		}
		if got := log.Calls(); !slices.Equal(got, want) {
			t.Errorf("%s: derived %+v, want %+v", tc.name, got, want)
		}
		nPolicy := 0
		for _, c := range log.Calls() {
			if c == policyCall(pol) {
				nPolicy++
			}
		}
		if tc.stored != above && nPolicy != 1 { // above: its own derivation costs more
			t.Errorf("%s: %d argon2id derivations with the policy's parameters, want exactly 1", tc.name, nPolicy)
		}
	}

	// A successful verification runs the hash's own derivation only (for
	// scrypt, TestBetterAuthScryptVectors checks it).
	for _, tc := range []struct {
		name, pw, stored string
		own              []kdftrace.Call
	}{
		{"argon2id below policy", "password", below, []kdftrace.Call{belowCall}},
		{"bcrypt", "password", bcrypt4, []kdftrace.Call{bcryptCall}},
		{"own format", "x", "plain$x", nil},
	} {
		log.Reset()
		if match, _, err := h.Verify(ctx, tc.pw, tc.stored); err != nil || !match {
			t.Errorf("%s: Verify = %v, %v; want a match", tc.name, match, err)
		}
		if got := log.Calls(); !slices.Equal(got, tc.own) {
			t.Errorf("%s, correct password: derived %+v, want %+v", tc.name, got, tc.own)
		}
	}
}

// TestFailedVerifyCancelled checks that a context done between a cheap
// hash's own derivation and the policy's is reported, not swallowed into a
// plain "no match".
func TestFailedVerifyCancelled(t *testing.T) {
	h := newHasher(t, WithPolicy(smallPolicy))
	const bcrypt4 = "$2a$04$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba"
	ctx, cancel := context.WithCancel(context.Background())
	log := watchKDF(t)
	log.OnBegin(func(c kdftrace.Call) {
		if c.Alg == "bcrypt" {
			cancel()
		}
	})
	match, _, err := h.Verify(ctx, "wrong", bcrypt4)
	if !errors.Is(err, context.Canceled) || match {
		t.Fatalf("Verify = %v, %v; want context.Canceled", match, err)
	}
	if n := log.Count(); n != 1 {
		t.Fatalf("%d derivations, want only bcrypt's", n)
	}
}

// TestScryptPaddedWork checks, through the derivation hook, that
// VerifyScryptPadded and VerifyDummyScryptPadded do one better-auth scrypt
// derivation and then one argon2id under the policy, the same sequence
// for an unknown user, an argon2id hash at the policy and a better-auth
// scrypt hash, with a right password as with a wrong one (dummy
// derivations standing in for the hash the user does not have), and that
// other hashes add their own derivation (or replace the policy's by a
// costlier one) without doing less. Invalid input does no derivation, and
// a context done during the padding is reported.
func TestScryptPaddedWork(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, WithPolicy(smallPolicy), WithVerifier(prefixVerifier{kib: 1}))
	argon := func(p Policy) (string, kdftrace.Call) {
		s, err := newHasher(t, WithPolicy(p)).Hash(ctx, "password")
		if err != nil {
			t.Fatal(err)
		}
		return s, policyCall(p)
	}
	sc := readVectors(t, "testdata/scrypt-betterauth.txt")[0]
	const bcrypt4 = "$2a$04$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba" // "password"
	scryptCall := kdftrace.Call{Alg: "scrypt", N: 16384, R: 16, P: 1, KeyLen: 64, SaltLen: 32}
	bcryptCall := kdftrace.Call{Alg: "bcrypt", Cost: 4}
	policy := policyCall(smallPolicy)
	atPolicy, _ := argon(smallPolicy)
	below, belowCall := argon(Policy{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	above, aboveCall := argon(Policy{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32})
	pair := []kdftrace.Call{scryptCall, policy}

	log := watchKDF(t)
	for _, tc := range []struct {
		name, pw, stored string // stored "": VerifyDummyScryptPadded
		match            bool
		want             []kdftrace.Call
	}{
		{"unknown user", "wrong", "", false, pair},
		{"argon2id at policy", "wrong", atPolicy, false, pair},
		{"argon2id at policy, right password", "password", atPolicy, true, pair},
		{"better-auth scrypt", "wrong", sc.fields[0], false, pair},
		{"better-auth scrypt, right password", sc.password, sc.fields[0], true, pair},
		{"argon2id below policy", "wrong", below, false, []kdftrace.Call{scryptCall, belowCall, policy}},
		{"argon2id below policy, right password", "password", below, true, []kdftrace.Call{scryptCall, belowCall, policy}},
		{"argon2id above policy", "wrong", above, false, []kdftrace.Call{scryptCall, aboveCall}},
		{"argon2id above policy, right password", "password", above, true, []kdftrace.Call{scryptCall, aboveCall}},
		{"bcrypt", "wrong", bcrypt4, false, []kdftrace.Call{scryptCall, bcryptCall, policy}},
		{"bcrypt, right password", "password", bcrypt4, true, []kdftrace.Call{scryptCall, bcryptCall, policy}},
		{"own format", "wrong", "plain$x", false, pair},
		{"own format, right password", "x", "plain$x", true, pair},
	} {
		log.Reset()
		var match, upgrade bool
		var err error
		if tc.stored == "" {
			err = h.VerifyDummyScryptPadded(ctx, tc.pw)
		} else {
			match, upgrade, err = h.VerifyScryptPadded(ctx, tc.pw, tc.stored)
		}
		if err != nil || match != tc.match {
			t.Errorf("%s: match %v, err %v; want match %v", tc.name, match, err, tc.match)
			continue
		}
		if got := log.Calls(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: derived %+v, want %+v", tc.name, got, tc.want)
		}
		if tc.stored != "" {
			if _, wantUp, _ := h.Verify(ctx, tc.pw, tc.stored); upgrade != wantUp {
				t.Errorf("%s: needsUpgrade %v, Verify says %v", tc.name, upgrade, wantUp)
			}
		}
	}

	for _, tc := range []struct {
		name, pw, stored string
		want             error
	}{
		{"empty password", "", atPolicy, ErrPasswordEmpty},
		{"password too long", strings.Repeat("x", MaxPasswordLen+1), atPolicy, ErrPasswordTooLong},
		{"malformed hash", "password", "$argon2id$v=19$m=64", ErrMalformedHash},
		{"hash out of bounds", "password", "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", ErrHashBounds},
	} {
		log.Reset()
		if _, _, err := h.VerifyScryptPadded(ctx, tc.pw, tc.stored); !errors.Is(err, tc.want) {
			t.Errorf("%s: VerifyScryptPadded err %v, want %v", tc.name, err, tc.want)
		}
		if tc.want == ErrPasswordEmpty || tc.want == ErrPasswordTooLong {
			if err := h.VerifyDummyScryptPadded(ctx, tc.pw); !errors.Is(err, tc.want) {
				t.Errorf("%s: VerifyDummyScryptPadded err %v, want %v", tc.name, err, tc.want)
			}
		}
		if n := log.Count(); n != 0 {
			t.Errorf("%s: %d derivations, want none", tc.name, n)
		}
	}

	// A context done during the padding scrypt is reported, and nothing
	// more is derived.
	for _, unknown := range []bool{false, true} {
		cctx, cancel := context.WithCancel(ctx)
		log.Reset()
		log.OnBegin(func(c kdftrace.Call) {
			if c.Alg == "scrypt" {
				cancel()
			}
		})
		var err error
		if unknown {
			err = h.VerifyDummyScryptPadded(cctx, "password")
		} else {
			_, _, err = h.VerifyScryptPadded(cctx, "password", atPolicy)
		}
		log.OnBegin(nil)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled during the padding (unknown user %v): err %v, want context.Canceled", unknown, err)
		}
		if got := log.Calls(); !slices.Equal(got, []kdftrace.Call{scryptCall}) {
			t.Errorf("cancelled during the padding (unknown user %v): derived %+v, want the scrypt only", unknown, got)
		}
	}
}

// TestDefaultsAreValues checks that no importer can weaken the published
// policies and bounds: each call returns a fresh value, and changing one
// changes neither the next call nor what New uses. (When they were
// package variables, password.DefaultPolicy.Memory = 32 made every later
// New() hash with 32 KiB.)
func TestDefaultsAreValues(t *testing.T) {
	p := DefaultPolicy()
	p.Memory, p.Time = 32, 1
	o := OWASPPolicy()
	o.Memory = 32
	b := DefaultBounds()
	b.MaxMemory = 1 << 30
	if DefaultPolicy().Memory != 64<<10 || DefaultPolicy().Time != 3 || OWASPPolicy().Memory != 19<<10 || DefaultBounds().MaxMemory != 256<<10 {
		t.Fatal("changing a returned value changed the published one")
	}
	h := newHasher(t)
	if h.Policy() != DefaultPolicy() || h.bounds != DefaultBounds() {
		t.Fatalf("New() uses %+v, %+v", h.Policy(), h.bounds)
	}
}

// TestParsedHashDoesNotPrint checks that the parsed hashes this package's
// verifiers return print as their kind only, through every fmt verb, as a
// field (exported or not) of a caller's struct, and through slog.
func TestParsedHashDoesNotPrint(t *testing.T) {
	h := newHasher(t, WithPolicy(smallPolicy))
	scrypt := readVectors(t, "testdata/scrypt-betterauth.txt")[0].fields[0]
	const bcrypt = "$2b$10$Ue3Sb1Yw8R6iqD2P0zmhYefq46oDEap/MhH0xXmCjV81T51Jy8Mue"
	for _, stored := range []string{good, scrypt, bcrypt} {
		ph, err := h.parse(stored)
		if err != nil {
			t.Fatal(err)
		}
		var needles []string
		switch p := ph.(type) {
		case *phc:
			needles = []string{goodSalt, goodHash[:12], string(p.salt), fmt.Sprint([]byte(p.key)), fmt.Sprintf("%x", p.key[:8])}
		case *scryptHash:
			needles = []string{scrypt[:12], scrypt[40:60], fmt.Sprint(p.key[:8])[1:20], p.salt}
		case *bcryptHash:
			needles = []string{"Ue3Sb1Yw8R6iqD2P", "MhH0xXmCjV81T51J"}
		default:
			t.Fatalf("parsed to %T", ph)
		}
		var out strings.Builder
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%p"} {
			fmt.Fprintf(&out, verb+"\n", ph)
		}
		type holder struct {
			Exported   ParsedHash
			unexported ParsedHash
		}
		fmt.Fprintf(&out, "%v %+v %#v\n", holder{ph, ph}, holder{ph, ph}, &holder{ph, ph})
		slog.New(slog.NewTextHandler(&out, nil)).Info("m", "h", ph, "s", holder{ph, ph})
		slog.New(slog.NewJSONHandler(&out, nil)).Info("m", "h", ph, "s", holder{ph, ph})
		for _, n := range needles {
			if strings.Contains(out.String(), n) {
				t.Fatalf("printing a parsed %T shows part of the hash (%d bytes of output)", ph, out.Len())
			}
		}
		if !strings.Contains(out.String(), "password.ParsedHash(") {
			t.Fatalf("a parsed %T does not print as its kind", ph)
		}
	}
}

func TestRecognized(t *testing.T) {
	h := newHasher(t, WithPolicy(smallPolicy))
	strict := newHasher(t, WithPolicy(smallPolicy), WithoutLegacyVerifiers())
	scrypt := readVectors(t, "testdata/scrypt-betterauth.txt")[0].fields[0]
	const bcrypt = "$2y$10$ydRQnAmOIvXU05kQXYcnEuiBhO0X8sIhtz4hrOFBXWh7dDAhVi/lK"
	for _, tc := range []struct {
		in             string
		legacy, strict bool
	}{
		{good, true, true},
		{h.dummy.encode(), true, true},
		{scrypt, true, false},
		{bcrypt, true, false},
		{"hunter2", false, false},
		{"", false, false},
		{"correct horse battery staple", false, false},
		{withParams("m=1048576,t=2,p=1"), false, false}, // out of bounds
		{good + "$x", false, false},
		{"$2x$" + bcrypt[4:], false, false},
		{strings.ToUpper(scrypt), false, false},
	} {
		if got := h.Recognized(tc.in); got != tc.legacy {
			t.Errorf("input of %d bytes: Recognized = %v, want %v", len(tc.in), got, tc.legacy)
		}
		if got := strict.Recognized(tc.in); got != tc.strict {
			t.Errorf("input of %d bytes: without legacy verifiers, Recognized = %v, want %v", len(tc.in), got, tc.strict)
		}
	}
	if _, _, err := strict.Verify(context.Background(), "password", bcrypt); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("bcrypt without legacy verifiers: got %v, want ErrMalformedHash", err)
	}
}

// prefixVerifier is an application's own format for TestWithVerifier:
// "plain$" followed by the password. It is deliberately trivial. It counts
// its parses.
type prefixVerifier struct {
	kib    int64
	parses *atomic.Int64
}

func (prefixVerifier) Recognize(s string) bool { return strings.HasPrefix(s, "plain$") }
func (v prefixVerifier) Parse(s string) (ParsedHash, error) {
	if v.parses != nil {
		v.parses.Add(1)
	}
	if len(s) == len("plain$") {
		return nil, ErrMalformedHash
	}
	return prefixHash{kib: v.kib, pw: s[len("plain$"):]}, nil
}

type prefixHash struct {
	kib int64
	pw  string
}

func (h prefixHash) Cost() int64                    { return h.kib }
func (h prefixHash) Verify(pw string) (bool, error) { return pw == h.pw, nil }

// countingVerifier counts the parses of the Verifier it wraps.
type countingVerifier struct {
	Verifier
	parses *atomic.Int64
}

func (v countingVerifier) Parse(s string) (ParsedHash, error) {
	v.parses.Add(1)
	return v.Verifier.Parse(s)
}

// TestParsedOnce checks that one Verify, Recognized or NeedsUpgrade parses
// the stored hash once: the Hasher hands the parsed hash on (to the
// limiter's reservation, the comparison and the upgrade decision) instead
// of each step parsing the string again, as Cost, Verify and NeedsUpgrade
// each did before.
func TestParsedOnce(t *testing.T) {
	ctx := context.Background()
	var parses atomic.Int64
	const bcrypt4 = "$2a$04$saltsaltsaltsaltsaltsOh9rCgsOi8IYqmtEm1s6duinLpzU3Bba" // "password"
	h := newHasher(t, WithPolicy(smallPolicy), WithVerifier(countingVerifier{Bcrypt(4), &parses}),
		WithVerifier(prefixVerifier{kib: 1, parses: &parses}))
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Verify bcrypt, match", func() error { _, _, err := h.Verify(ctx, "password", bcrypt4); return err }},
		{"Verify bcrypt, no match", func() error { _, _, err := h.Verify(ctx, "wrong", bcrypt4); return err }},
		{"Verify bcrypt, over 72 bytes", func() error { _, _, err := h.Verify(ctx, strings.Repeat("p", 80), bcrypt4); return err }},
		{"Verify own format, match", func() error { _, _, err := h.Verify(ctx, "x", "plain$x"); return err }},
		{"Verify own format, no match", func() error { _, _, err := h.Verify(ctx, "y", "plain$x"); return err }},
		{"Recognized", func() error { h.Recognized(bcrypt4); return nil }},
	} {
		parses.Store(0)
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n := parses.Load(); n != 1 {
			t.Errorf("%s parsed the stored hash %d times, want 1", tc.name, n)
		}
	}
}

func TestWithVerifier(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, WithPolicy(smallPolicy), WithVerifier(prefixVerifier{kib: 1}))
	if !h.Recognized("plain$x") || h.Recognized("plain$") {
		t.Fatal("Recognized does not consult the added verifier")
	}
	match, upgrade, err := h.Verify(ctx, "x", "plain$x")
	if err != nil || !match || !upgrade {
		t.Fatalf("Verify = %v, %v, %v; want a match needing upgrade", match, upgrade, err)
	}
	if match, upgrade, err := h.Verify(ctx, "y", "plain$x"); err != nil || match || upgrade {
		t.Fatalf("wrong password: Verify = %v, %v, %v", match, upgrade, err)
	}
	if _, _, err := h.Verify(ctx, "x", "plain$"); !errors.Is(err, ErrMalformedHash) {
		t.Fatalf("malformed: got %v", err)
	}
	// Its cost is reserved (clamped to the capacity): a verifier claiming
	// more than the capacity still runs.
	huge := newHasher(t, WithPolicy(smallPolicy), WithConcurrency(1), WithVerifier(prefixVerifier{kib: 1 << 40}))
	if match, _, err := huge.Verify(ctx, "x", "plain$x"); err != nil || !match {
		t.Fatalf("cost above capacity: Verify = %v, %v", match, err)
	}
}

func TestNewInvalidConfig(t *testing.T) {
	for name, opts := range map[string][]Option{
		"concurrency 0":        {WithConcurrency(0)},
		"concurrency -1":       {WithConcurrency(-1)},
		"nil verifier":         {WithVerifier(nil)},
		"zero bounds":          {WithBounds(Bounds{})},
		"zero policy":          {WithPolicy(Policy{})},
		"policy m < 8p":        {WithPolicy(Policy{Memory: 15, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32})},
		"policy salt 7":        {WithPolicy(Policy{Memory: 64, Time: 1, Threads: 1, SaltLen: 7, KeyLen: 32})},
		"policy salt 2^32-1":   {WithPolicy(Policy{Memory: 64, Time: 1, Threads: 1, SaltLen: 1<<32 - 1, KeyLen: 32})},
		"policy key 65":        {WithPolicy(Policy{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 65})},
		"policy t above":       {WithPolicy(Policy{Memory: 64, Time: 11, Threads: 1, SaltLen: 16, KeyLen: 32})},
		"policy m above":       {WithPolicy(Policy{Memory: 1 << 20, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})},
		"concurrency overflow": {WithConcurrency(1 << 62)},
	} {
		if _, err := New(opts...); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New returned %v, want ErrInvalidConfig", name, err)
		}
	}
	for name, p := range map[string]Policy{"default": DefaultPolicy(), "owasp": OWASPPolicy()} {
		h, err := New(WithPolicy(p))
		if err != nil || h.Policy() != p {
			t.Errorf("%s: New = %v", name, err)
		}
	}
	if DefaultPolicy() != (Policy{Memory: 65536, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}) ||
		OWASPPolicy() != (Policy{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}) ||
		DefaultBounds() != (Bounds{MaxMemory: 262144, MaxTime: 10, MaxThreads: 16}) {
		t.Fatal("a published policy or bound changed")
	}
}

// TestErrorsDoNotLeak collects the errors of every failing path and checks
// none contains the password or a recognisable part of the stored hash.
func TestErrorsDoNotLeak(t *testing.T) {
	const pw = "Sup3r-Secret-Passw0rd"
	h := newHasher(t, WithPolicy(smallPolicy), WithVerifier(Bcrypt(4)))
	scrypt := readVectors(t, "testdata/scrypt-betterauth.txt")[0].fields[0]
	const bcrypt = "$2b$10$Ue3Sb1Yw8R6iqD2P0zmhYefq46oDEap/MhH0xXmCjV81T51Jy8Mue"
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		ctx      context.Context
		pw       string
		stored   string
		needles  []string
		sentinel error
	}{
		{context.Background(), pw, strings.ToUpper(scrypt), []string{scrypt[:16], strings.ToUpper(scrypt[40:60])}, ErrMalformedHash},
		{context.Background(), pw, scrypt[:100], []string{scrypt[:16], scrypt[40:60]}, ErrMalformedHash},
		{context.Background(), pw, bcrypt, []string{"Ue3Sb1Yw8R6iqD2P", "MhH0xXmCjV81T51J"}, ErrHashBounds},
		{context.Background(), pw, "$2x$" + bcrypt[4:], []string{"Ue3Sb1Yw8R6iqD2P", "MhH0xXmCjV81T51J"}, ErrMalformedHash},
		{context.Background(), pw + strings.Repeat("\uFDFA", 1000), "$2b$04" + bcrypt[6:], []string{"Ue3Sb1Yw8R6iqD2P"}, ErrPasswordTooLong},
		{context.Background(), pw + strings.Repeat("!", MaxPasswordLen), good, []string{goodSalt}, ErrPasswordTooLong},
		{context.Background(), pw, "plaintext " + pw, nil, ErrMalformedHash},
		{cancelled, pw, good, []string{goodSalt, goodHash[:16]}, context.Canceled},
	}
	for i, tc := range cases {
		_, _, err := h.Verify(tc.ctx, tc.pw, tc.stored)
		if !errors.Is(err, tc.sentinel) {
			t.Fatalf("case %d: got %v, want %v", i, err, tc.sentinel)
		}
		for _, s := range append(tc.needles, pw) {
			if strings.Contains(err.Error(), s) {
				t.Errorf("case %d: the error (%d bytes) contains part of a secret", i, len(err.Error()))
			}
		}
	}
}
