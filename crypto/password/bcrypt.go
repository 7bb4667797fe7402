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

// bcryptMaxPassword is bcrypt's input limit: longer passwords would be
// silently truncated by it, so they are refused.
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
// written by other software, which did not normalise), and a password
// longer than 72 bytes is refused with an error wrapping
// [ErrPasswordTooLong]: bcrypt would silently ignore the excess. A
// verification reserves 5 KiB in the Hasher's limiter.
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

func (v bcryptVerifier) Cost(stored string) (int64, error) {
	if _, err := v.parse(stored); err != nil {
		return 0, err
	}
	return bcryptKiB, nil
}

func (v bcryptVerifier) Verify(password, stored string) (bool, error) {
	cost, err := v.parse(stored)
	if err != nil {
		return false, err
	}
	if len(password) > bcryptMaxPassword {
		return false, fmt.Errorf("%w: bcrypt checks at most %d bytes", ErrPasswordTooLong, bcryptMaxPassword)
	}
	switch err := bcryptCompare([]byte(stored), []byte(password), cost); {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		// parse accepted what x/crypto refused: report it without its
		// text, which may quote the hash.
		return false, fmt.Errorf("%w: bcrypt: hash refused by the bcrypt implementation", ErrMalformedHash)
	}
}

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
