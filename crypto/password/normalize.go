package password

import (
	"fmt"
	"strconv"

	"golang.org/x/text/unicode/norm"
)

// MaxPasswordLen is the longest password accepted, in bytes, both as given
// and after NFKC normalisation. Longer passwords are refused with
// [ErrPasswordTooLong], never truncated.
const MaxPasswordLen = 4096

// checkLen checks the length of a password as given, before any work: it is
// what bounds the cost of normalising it.
func checkLen(password string) error {
	switch {
	case password == "":
		return ErrPasswordEmpty
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("%w: more than %d bytes", ErrPasswordTooLong, MaxPasswordLen)
	}
	return nil
}

// normalize returns the NFKC form of password, the bytes that argon2id and
// scrypt hash, so that the same password typed with composed or decomposed
// characters, or with compatibility forms (ﬁ, full-width letters), hashes
// alike. NFKC can expand a string (one 3-byte character becomes up to 33
// bytes), so the length is checked again after normalising. Bytes that are
// not valid UTF-8 are kept as they are.
func normalize(password string) ([]byte, error) {
	if err := checkLen(password); err != nil {
		return nil, err
	}
	n := norm.NFKC.String(password)
	if len(n) > MaxPasswordLen {
		return nil, fmt.Errorf("%w: more than %s bytes after NFKC normalisation", ErrPasswordTooLong, strconv.Itoa(MaxPasswordLen))
	}
	return []byte(n), nil
}
