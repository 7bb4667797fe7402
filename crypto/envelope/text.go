package envelope

import (
	"encoding/base64"
	"strings"

	"github.com/accountvault/accountvault/crypto/envelope/internal/format"
)

// TextPrefix begins the text form of a sealed value. The "1" numbers the
// text encoding; the sealed bytes carry their own format version.
const TextPrefix = "av1:"

var (
	errTextPrefix   = format.NewError("envelope: malformed text form: missing "+TextPrefix+" prefix", ErrMalformed)
	errTextTooLong  = format.NewError("envelope: malformed text form: longer than the format allows", ErrMalformed)
	errTextAlphabet = format.NewError("envelope: malformed text form: character outside the base64url alphabet", ErrMalformed)
	errTextBase64   = format.NewError("envelope: malformed text form: not canonical unpadded base64url", ErrMalformed)
)

// maxTextSize is the length of the text form of the longest sealed value.
var maxTextSize = len(TextPrefix) + base64.RawURLEncoding.EncodedLen(MaxSealedSize)

// EncodeText returns the canonical text form of the sealed value v, for
// command-line tools, logs and test vectors: [TextPrefix] followed by v in
// base64url without padding (RFC 4648 section 5). Values are stored in
// binary: the text form is for people.
//
// The text form of a sealed value is as secret as the value: it does not
// reveal the token, but it should not be logged where the token should not
// be stored.
func EncodeText(v []byte) string {
	b := make([]byte, len(TextPrefix)+base64.RawURLEncoding.EncodedLen(len(v)))
	copy(b, TextPrefix)
	base64.RawURLEncoding.Encode(b[len(TextPrefix):], v)
	return string(b)
}

// DecodeText decodes the text form made by [EncodeText]. It is strict:
// the prefix must be [TextPrefix] exactly, the rest only characters of the
// base64url alphabet, without padding, whitespace or line breaks, and in
// canonical form (unused bits zero), so that every value has exactly one
// text form. Text longer than the form of a [MaxSealedSize] value is
// refused before decoding. Errors wrap [ErrMalformed].
//
// DecodeText checks the encoding only; [Open] or [KeyID] check the bytes.
func DecodeText(s string) ([]byte, error) {
	body, ok := strings.CutPrefix(s, TextPrefix)
	if !ok {
		return nil, errTextPrefix
	}
	if len(s) > maxTextSize {
		return nil, errTextTooLong
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, errTextAlphabet
		}
	}
	b := make([]byte, base64.RawURLEncoding.DecodedLen(len(body)))
	n, err := base64.RawURLEncoding.Strict().Decode(b, []byte(body))
	if err != nil {
		return nil, errTextBase64
	}
	return b[:n], nil
}
