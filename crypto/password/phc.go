package password

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// This file is the strict parser and the encoder of argon2id PHC strings:
//
//	$argon2id$v=19$m=<memory KiB>,t=<time>,p=<threads>$<salt>$<hash>
//
// and nothing else: version 19 only, the three parameters in that order and
// no others (no keyid, no data), numbers in decimal without sign or leading
// zeros that fit in 32 bits, salt and hash in standard base64 without
// padding, in the canonical encoding (the unused low bits of the last
// character are zero). A string that parses re-encodes to itself.

const (
	phcPrefix  = "$argon2id$"
	phcVersion = 19
	// maxPHCLen exceeds the longest string the grammar and the format
	// limits allow (about 210 bytes); longer input is refused unread.
	maxPHCLen = 256
)

// b64 is the PHC encoding of salt and hash. Strict refuses non-zero trailing
// bits; the alphabet check in decodeB64 refuses the CR and LF that the
// decoder would otherwise skip.
var b64 = base64.RawStdEncoding.Strict()

// phc is a parsed argon2id PHC string.
type phc struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func malformed(what string) error {
	return fmt.Errorf("%w: argon2id: %s", ErrMalformedHash, what)
}

// parsePHC parses s and checks its parameters against b. The error wraps
// ErrMalformedHash or ErrHashBounds and never contains s.
func parsePHC(s string, b Bounds) (phc, error) {
	if len(s) > maxPHCLen {
		return phc{}, malformed("longer than " + strconv.Itoa(maxPHCLen) + " bytes")
	}
	rest, ok := strings.CutPrefix(s, phcPrefix)
	if !ok {
		for _, v := range []string{"$argon2i$", "$argon2d$"} {
			if strings.HasPrefix(s, v) {
				return phc{}, malformed("unsupported variant " + strings.Trim(v, "$"))
			}
		}
		return phc{}, malformed("not an argon2id PHC string")
	}

	var v, m, t, p uint32
	var err error
	if rest, err = cutParam(rest, "v=", &v); err != nil {
		return phc{}, err
	}
	if v != phcVersion {
		return phc{}, malformed("unsupported version " + strconv.FormatUint(uint64(v), 10))
	}
	for _, f := range []struct {
		sep string
		dst *uint32
	}{{"$m=", &m}, {",t=", &t}, {",p=", &p}} {
		if rest, err = cutParam(rest, f.sep, f.dst); err != nil {
			return phc{}, err
		}
	}
	rest, ok = strings.CutPrefix(rest, "$")
	if !ok {
		return phc{}, malformed("parameters not followed by salt")
	}
	saltB64, keyB64, ok := strings.Cut(rest, "$")
	if !ok {
		return phc{}, malformed("missing hash")
	}
	salt, err := decodeB64("salt", saltB64)
	if err != nil {
		return phc{}, err
	}
	key, err := decodeB64("hash", keyB64)
	if err != nil {
		return phc{}, err
	}

	if err := b.check(m, t, p, len(salt), len(key)); err != nil {
		return phc{}, err
	}
	return phc{memory: m, time: t, threads: uint8(p), salt: salt, key: key}, nil
}

// cutParam reads sep then a decimal uint32 from the start of s into dst, and
// returns the rest of s.
func cutParam(s, sep string, dst *uint32) (string, error) {
	name := strings.Trim(sep, "$,=")
	rest, ok := strings.CutPrefix(s, sep)
	if !ok {
		return "", malformed("missing " + name + " parameter")
	}
	n := 0
	for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
		n++
	}
	switch {
	case n == 0:
		return "", malformed(name + " is not a decimal number")
	case n > 1 && rest[0] == '0':
		return "", malformed(name + " has a leading zero")
	case n > 10: // more digits than any uint32
		return "", malformed(name + " overflows 32 bits")
	}
	var v uint64
	for _, c := range rest[:n] {
		v = v*10 + uint64(c-'0')
	}
	if v > 1<<32-1 {
		return "", malformed(name + " overflows 32 bits")
	}
	*dst = uint32(v)
	return rest[n:], nil
}

// decodeB64 decodes a salt or hash field: non-empty, only the standard
// base64 alphabet (so no padding, no "$", no whitespace), canonical.
func decodeB64(field, s string) ([]byte, error) {
	if s == "" {
		return nil, malformed("empty " + field)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, malformed(field + " is not unpadded standard base64")
		}
	}
	out, err := b64.DecodeString(s)
	if err != nil {
		// err names an offset in s, not its bytes, but the offset says
		// nothing useful: leave it out.
		return nil, malformed(field + " is not canonical base64")
	}
	return out, nil
}

// encode returns the PHC string of h. (Not String: h holds a hash, and must
// not print itself through fmt.)
func (h phc) encode() string {
	b := make([]byte, 0, 64+b64.EncodedLen(len(h.salt))+b64.EncodedLen(len(h.key)))
	b = append(b, phcPrefix...)
	b = append(b, "v="...)
	b = strconv.AppendUint(b, phcVersion, 10)
	b = append(b, "$m="...)
	b = strconv.AppendUint(b, uint64(h.memory), 10)
	b = append(b, ",t="...)
	b = strconv.AppendUint(b, uint64(h.time), 10)
	b = append(b, ",p="...)
	b = strconv.AppendUint(b, uint64(h.threads), 10)
	b = append(b, '$')
	b = b64.AppendEncode(b, h.salt)
	b = append(b, '$')
	b = b64.AppendEncode(b, h.key)
	return string(b)
}

// matches reports whether h has exactly the parameters of p.
func (h phc) matches(p Policy) bool {
	return h.memory == p.Memory && h.time == p.Time && h.threads == p.Threads &&
		uint64(len(h.salt)) == uint64(p.SaltLen) && uint64(len(h.key)) == uint64(p.KeyLen)
}

// Format prints the kind of hash only, whatever the verb: a parsed hash
// holds a salt and a tag, which no log line or error may show.
func (h phc) Format(f fmt.State, _ rune) { redacted(f, "argon2id") }
