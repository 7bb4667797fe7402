package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
)

// better-auth's default password hash (packages/better-auth/src/crypto/
// password.ts): scrypt with N=16384, r=16, p=1 and a 64-byte key, of the
// NFKC-normalised password, salted with the 32-character hex text of a
// random 16-byte salt (the text, not the bytes it encodes), stored as
// "<salt hex>:<key hex>" in lowercase.
const (
	scryptN       = 16384
	scryptR       = 16
	scryptP       = 1
	scryptKeyLen  = 64
	scryptSaltHex = 32
	scryptLen     = scryptSaltHex + 1 + 2*scryptKeyLen

	// scryptKiB is what scrypt.Key allocates: 128·N·r bytes for V, plus
	// 256·r for XY and 128·r·p for B, rounded up.
	scryptKiB = 128*scryptN*scryptR/1024 + 8
)

// BetterAuthScrypt returns the Verifier of better-auth's default password
// hashes, "<32 hex digits salt>:<128 hex digits key>": scrypt (N=16384, r=16,
// p=1, 64-byte key) of the NFKC-normalised password, with the salt's hex
// text as the scrypt salt. Only lowercase hex, as better-auth writes it, is
// accepted; anything else of that shape is refused as malformed. A
// verification reserves 32 MiB in the Hasher's limiter.
//
// A [Hasher] includes it unless [WithoutLegacyVerifiers] is given. A match
// reports needsUpgrade, so the hash is replaced by an argon2id one.
func BetterAuthScrypt() Verifier { return betterAuthScrypt{} }

type betterAuthScrypt struct{}

func (betterAuthScrypt) Recognize(stored string) bool {
	return len(stored) == scryptLen && stored[scryptSaltHex] == ':'
}

func (betterAuthScrypt) Parse(stored string) (ParsedHash, error) {
	key, err := parseScrypt(stored)
	if err != nil {
		return nil, err
	}
	return &scryptHash{salt: stored[:scryptSaltHex], key: key}, nil
}

// scryptHash is a parsed better-auth scrypt hash.
type scryptHash struct {
	salt string // the hex text, which better-auth uses as the salt
	key  []byte
}

func (*scryptHash) Cost() int64 { return scryptKiB }

func (h *scryptHash) Verify(password string) (bool, error) {
	pw, err := normalize(password)
	if err != nil {
		return false, err
	}
	return h.verifyNFKC(pw)
}

func (h *scryptHash) verifyNFKC(pw []byte) (bool, error) {
	got, err := scryptKey(pw, []byte(h.salt), scryptN, scryptR, scryptP, scryptKeyLen)
	if err != nil {
		// Only reachable through invalid parameters, which are constants.
		return false, fmt.Errorf("password: scrypt: %w", err)
	}
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// dummyScrypt returns a better-auth scrypt hash with a random salt and key.
// No password hashes to it (but with probability 2^-512); verifying against
// it costs exactly what verifying a real one costs.
func dummyScrypt() (*scryptHash, error) {
	b := make([]byte, scryptSaltHex/2+scryptKeyLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("password: reading random bytes: %w", err)
	}
	return &scryptHash{salt: hex.EncodeToString(b[:scryptSaltHex/2]), key: b[scryptSaltHex/2:]}, nil
}

// Format prints the kind of hash only, whatever the verb.
func (h scryptHash) Format(f fmt.State, _ rune) { redacted(f, "better-auth scrypt") }

// parseScrypt checks a better-auth scrypt hash and returns its key bytes.
func parseScrypt(stored string) ([]byte, error) {
	if len(stored) != scryptLen || stored[scryptSaltHex] != ':' {
		return nil, fmt.Errorf("%w: scrypt: not <32 hex digits>:<128 hex digits>", ErrMalformedHash)
	}
	salt, key := stored[:scryptSaltHex], stored[scryptSaltHex+1:]
	if !isLowerHex(salt) || !isLowerHex(key) {
		return nil, fmt.Errorf("%w: scrypt: salt and key must be lowercase hex", ErrMalformedHash)
	}
	k, err := hex.DecodeString(key)
	if err != nil {
		return nil, fmt.Errorf("%w: scrypt: key is not hex", ErrMalformedHash)
	}
	return k, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
