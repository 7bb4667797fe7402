package envelope

import "github.com/accountvault/accountvault/crypto/envelope/internal/format"

// IsSealed reports whether v begins with the format's magic byte 0xA7,
// which no text begins with. Such a value must be opened, never taken for
// plaintext; whether it is well-formed is for [KeyID] or [Open] to say. A
// non-empty value for which IsSealed is false is legacy plaintext.
func IsSealed(v []byte) bool { return format.IsSealed(v) }

// KeyID returns the id of the key-encryption key that wrapped the data key
// of the sealed value v, by parsing only: it does not check that v opens.
//
// The error is [accountvault.ErrLegacyPlaintext] if IsSealed(v) is false
// (including for an empty v), or wraps [ErrMalformed] (and so
// [accountvault.ErrDecrypt]) if v is not well-formed.
func KeyID(v []byte) (uint32, error) {
	val, err := format.Parse(v)
	if err != nil {
		return 0, err
	}
	return val.KeyID, nil
}
