package betterauth

import (
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"
)

// Limits on what Parse accepts.
const (
	// MaxVersions is the largest number of entries in a secrets list.
	MaxVersions = 256
	// MaxSecretSize is the longest secret, in bytes.
	MaxSecretSize = 4096
	// MaxVersion is the largest secret version. better-auth's are small
	// integers; the limit keeps every version exact in a JavaScript number.
	MaxVersion = math.MaxUint32
)

// Secrets are the secrets of one better-auth deployment, ready to open its
// encrypted tokens. A Secrets is immutable and safe for concurrent use. A
// nil *Secrets holds no secret: its Open still tells the values that have
// better-auth's shape (ErrNoSecret) from those that do not.
type Secrets struct {
	// versions is sorted by version.
	versions    []versioned
	unversioned cipher.AEAD // nil if there is no unversioned secret
}

type versioned struct {
	version uint32
	aead    cipher.AEAD
}

// Parse returns the Secrets of a deployment configured with secrets and
// secret, in the forms better-auth 1.7.25 reads from its environment:
//
//   - secrets is the value of BETTER_AUTH_SECRETS (or the secrets option
//     written the same way): comma-separated "version:secret" entries, the
//     current one first, such as "2:new-secret,1:old-secret". As in
//     better-auth, each entry and each secret is trimmed of the white
//     space JavaScript's String.prototype.trim removes, a secret runs from
//     the first colon of its entry to the entry's end, and the version is
//     a decimal number (here: digits only, at most [MaxVersion]). Versions
//     are unique. Empty for none.
//   - secret is the value of BETTER_AUTH_SECRET (or of the secret option),
//     used as is, the key of bare values. Empty for none.
//
// At least one of them must be non-empty. Secrets must be valid UTF-8
// (better-auth hashes their UTF-8 bytes) of at most [MaxSecretSize]
// bytes; a list holds at most [MaxVersions] entries.
//
// Unlike better-auth, Parse does not set aside better-auth's development
// default secret ("better-auth-secret-12345678901234567890") when versioned
// secrets are given: pass it as secret to open bare values written by a
// deployment that ran without a secret of its own.
//
// Errors name the setting and the position of an entry, never a secret.
func Parse(secrets, secret string) (*Secrets, error) {
	if secrets == "" && secret == "" {
		return nil, errors.New("betterauth: no secret given (BETTER_AUTH_SECRETS or BETTER_AUTH_SECRET)")
	}
	s := new(Secrets)
	if secret != "" {
		aead, err := newAEAD(secret)
		if err != nil {
			return nil, fmt.Errorf("betterauth: BETTER_AUTH_SECRET: %w", err)
		}
		s.unversioned = aead
	}
	if secrets == "" {
		return s, nil
	}
	if n := strings.Count(secrets, ",") + 1; n > MaxVersions {
		return nil, fmt.Errorf("betterauth: BETTER_AUTH_SECRETS has %d entries, more than %d", n, MaxVersions)
	}
	for i, entry := range strings.Split(secrets, ",") {
		pos := i + 1
		entry = jsTrim(entry)
		colon := strings.IndexByte(entry, ':')
		if colon < 0 {
			return nil, fmt.Errorf("betterauth: BETTER_AUTH_SECRETS entry %d is not of the form version:secret", pos)
		}
		version, ok := parseVersion(jsTrim(entry[:colon]), true)
		if !ok {
			return nil, fmt.Errorf("betterauth: BETTER_AUTH_SECRETS entry %d: the version is not a decimal number from 0 to %d", pos, uint32(MaxVersion))
		}
		value := jsTrim(entry[colon+1:])
		if value == "" {
			return nil, fmt.Errorf("betterauth: BETTER_AUTH_SECRETS entry %d (version %d): empty secret", pos, version)
		}
		aead, err := newAEAD(value)
		if err != nil {
			return nil, fmt.Errorf("betterauth: BETTER_AUTH_SECRETS entry %d (version %d): %w", pos, version, err)
		}
		at, found := slices.BinarySearchFunc(s.versions, version, func(v versioned, t uint32) int {
			return cmpUint32(v.version, t)
		})
		if found {
			return nil, fmt.Errorf("betterauth: BETTER_AUTH_SECRETS entry %d: version %d occurs twice", pos, version)
		}
		s.versions = slices.Insert(s.versions, at, versioned{version, aead})
	}
	return s, nil
}

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// newAEAD returns the XChaCha20-Poly1305 AEAD keyed by SHA-256 of secret.
func newAEAD(secret string) (cipher.AEAD, error) {
	if len(secret) > MaxSecretSize {
		return nil, fmt.Errorf("the secret is longer than %d bytes", MaxSecretSize)
	}
	if !utf8.ValidString(secret) {
		return nil, errors.New("the secret is not valid UTF-8")
	}
	key := sha256.Sum256([]byte(secret))
	aead, err := chacha20poly1305.NewX(key[:])
	clear(key[:])
	return aead, err
}

// parseVersion parses a version: decimal digits, at most MaxVersion. With
// leadingZeros false, only the canonical form is accepted (no leading zero
// but in "0"), as better-auth writes it into an envelope; with it true,
// leading zeros are dropped, as JavaScript's parseInt does.
func parseVersion(s string, leadingZeros bool) (uint32, bool) {
	if leadingZeros && len(s) > 1 {
		s = strings.TrimLeft(s, "0")
		if s == "" {
			s = "0"
		}
	}
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > MaxVersion {
		return 0, false
	}
	return uint32(v), true
}

// jsTrim removes what JavaScript's String.prototype.trim removes from both
// ends of s: the WhiteSpace and LineTerminator code points of ECMAScript
// (which differ from Go's unicode.IsSpace: U+FEFF is one, U+0085 is not).
func jsTrim(s string) string {
	return strings.TrimFunc(s, isJSSpace)
}

func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x00A0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// Versions returns the versions of the versioned secrets, in increasing
// order.
func (s *Secrets) Versions() []uint32 {
	if s == nil {
		return nil
	}
	out := make([]uint32, len(s.versions))
	for i, v := range s.versions {
		out[i] = v.version
	}
	return out
}

// HasUnversioned reports whether s holds an unversioned secret, the key
// of bare values.
func (s *Secrets) HasUnversioned() bool {
	return s != nil && s.unversioned != nil
}

// aead returns the AEAD of version, or nil.
func (s *Secrets) aead(version uint32) cipher.AEAD {
	if s == nil {
		return nil
	}
	i, found := slices.BinarySearchFunc(s.versions, version, func(v versioned, t uint32) int {
		return cmpUint32(v.version, t)
	})
	if !found {
		return nil
	}
	return s.versions[i].aead
}

// Format prints which secrets s holds, never a secret, whatever the verb.
func (s Secrets) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "betterauth.Secrets{versions: %v, unversioned: %t}", s.Versions(), s.HasUnversioned())
}
