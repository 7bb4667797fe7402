package password

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// DefaultBcryptMaxCost is the highest bcrypt cost [Bcrypt] accepts by
// default: 2^15 rounds, a few seconds of CPU per login.
const DefaultBcryptMaxCost = 15

// bcryptMaxPassword is bcrypt's input limit: it ignores what follows, so a
// longer password matches no bcrypt hash.
const bcryptMaxPassword = 72

// bcryptKiB is what one bcrypt verification holds: the 4 KiB Blowfish
// state and small buffers.
const bcryptKiB = 5

const (
	bcryptLen      = 60 // $2b$ + 2 cost digits + $ + 22 salt + 31 hash
	bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// Bcrypt returns the Verifier of bcrypt hashes in the $2a$, $2b$ and $2y$
// variants, of cost 4 up to maxCost (a larger cost is refused with
// [ErrHashBounds]; maxCost <= 0 means [DefaultBcryptMaxCost], more than 31
// means 31). $2x$ hashes (written by crypt_blowfish with its sign-extension
// bug) and the original $2$ are refused as malformed, as is any string that
// is not exactly the 60-character canonical encoding.
//
// The password is checked as given, without normalisation (the hashes were
// written by other software, which did not normalise). A password longer
// than 72 bytes matches no bcrypt hash: bcrypt would silently ignore the
// excess, so such a password is reported as not matching (false, not an
// error), after the same work as any wrong password. (A user whose longer
// password another program truncated silently when it wrote the hash must
// reset it.) A verification reserves 5 KiB in the Hasher's limiter.
//
// A [Hasher] includes Bcrypt(DefaultBcryptMaxCost) unless
// [WithoutLegacyVerifiers] is given; add Bcrypt(n) with [WithVerifier] to
// use another bound. A match reports needsUpgrade.
func Bcrypt(maxCost int) Verifier {
	switch {
	case maxCost <= 0:
		maxCost = DefaultBcryptMaxCost
	case maxCost > bcrypt.MaxCost:
		maxCost = bcrypt.MaxCost
	}
	return bcryptVerifier{maxCost: maxCost}
}

type bcryptVerifier struct {
	maxCost int
}

func (bcryptVerifier) Recognize(stored string) bool {
	return strings.HasPrefix(stored, "$2")
}

func (v bcryptVerifier) Parse(stored string) (ParsedHash, error) {
	cost, err := v.parse(stored)
	if err != nil {
		return nil, err
	}
	return &bcryptHash{stored: stored, cost: cost}, nil
}

// bcryptHash is a parsed bcrypt hash: x/crypto/bcrypt parses it again from
// the string, cheaply, when it compares.
type bcryptHash struct {
	stored string
	cost   int
}

func (*bcryptHash) Cost() int64 { return bcryptKiB }

// Verify compares the password as given. A password longer than 72 bytes
// does not match: bcrypt ignores what follows byte 72, so accepting it
// would accept any suffix. Its first 72 bytes are compared anyway, and the
// answer discarded, so that it costs what any wrong password costs.
func (h *bcryptHash) Verify(password string) (bool, error) {
	tooLong := len(password) > bcryptMaxPassword
	if tooLong {
		password = password[:bcryptMaxPassword]
	}
	switch err := bcryptCompare([]byte(h.stored), []byte(password), h.cost); {
	case err == nil:
		return !tooLong, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		// parse accepted what x/crypto refused: report it without its
		// text, which may quote the hash.
		return false, fmt.Errorf("%w: bcrypt: hash refused by the bcrypt implementation", ErrMalformedHash)
	}
}

// Format prints the kind of hash only, whatever the verb.
func (h bcryptHash) Format(f fmt.State, _ rune) { redacted(f, "bcrypt") }

// parse checks stored strictly and returns its cost.
func (v bcryptVerifier) parse(stored string) (int, error) {
	bad := func(what string) (int, error) {
		return 0, fmt.Errorf("%w: bcrypt: %s", ErrMalformedHash, what)
	}
	if len(stored) < 4 {
		return bad("truncated")
	}
	switch stored[:4] {
	case "$2a$", "$2b$", "$2y$":
	case "$2x$":
		return bad("$2x$ hashes (crypt_blowfish sign-extension bug) are not supported")
	default:
		return bad("unsupported variant")
	}
	if len(stored) != bcryptLen {
		return bad("not 60 characters")
	}
	c1, c2 := stored[4], stored[5]
	if c1 < '0' || c1 > '9' || c2 < '0' || c2 > '9' || stored[6] != '$' {
		return bad("cost is not two decimal digits")
	}
	for i := 7; i < bcryptLen; i++ {
		if strings.IndexByte(bcryptAlphabet, stored[i]) < 0 {
			return bad("salt or hash is not bcrypt base64")
		}
	}
	// 22 characters carry the 16-byte salt (4 bits to spare), 31 the
	// 23-byte hash (2 bits to spare): the spare bits must be zero.
	if strings.IndexByte(bcryptAlphabet, stored[7+21])%16 != 0 ||
		strings.IndexByte(bcryptAlphabet, stored[bcryptLen-1])%4 != 0 {
		return bad("salt or hash is not canonical bcrypt base64")
	}
	cost := int(c1-'0')*10 + int(c2-'0')
	switch {
	case cost < bcrypt.MinCost:
		return bad("cost below 4")
	case cost > v.maxCost:
		return 0, fmt.Errorf("%w: bcrypt cost %d above %d", ErrHashBounds, cost, v.maxCost)
	}
	return cost, nil
}
