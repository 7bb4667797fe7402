package kms

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// errWithheld replaces a KMS client's error whose message quoted a secret.
var errWithheld = errors.New("the KMS client's error message was withheld because it quoted request data")

// window is the length of the pieces of a secret's encodings that quote
// looks for in an error message. Sixteen characters of base64 or hex of
// random bytes never occur by chance in an error message; sixteen raw
// bytes of a serialized Tink keyset include its ASCII type URLs.
const window = 16

// withhold returns err, or errWithheld if err's message quotes one of the
// secrets (see quotes).
func withhold(err error, secrets ...[]byte) error {
	msg := err.Error()
	for _, s := range secrets {
		if quotes(msg, s) {
			return errWithheld
		}
	}
	return err
}

// quotes reports whether msg contains any run of [window] characters (the
// whole, if shorter) of secret, of its standard or URL base64 encoding
// (padded or not) or of its hexadecimal encoding (either case). It catches
// a server echoing a request's plaintext whole or truncated, and a JSON
// encoder mangling its non-ASCII bytes (the ASCII runs survive), not a
// deliberate disguise. An empty secret is never quoted.
//
// It indexes the windows of msg, which is short, and looks each window of
// the encodings up: memory in the length of msg, time in the length of the
// secret.
func quotes(msg string, secret []byte) bool {
	if len(secret) == 0 || msg == "" {
		return false
	}
	encs := []string{
		string(secret),
		base64.StdEncoding.EncodeToString(secret),
		base64.URLEncoding.EncodeToString(secret),
		hex.EncodeToString(secret),
		strings.ToUpper(hex.EncodeToString(secret)),
	}
	var windows map[string]struct{}
	for _, e := range encs {
		e = strings.TrimRight(e, "=")
		if len(e) <= window {
			if strings.Contains(msg, e) {
				return true
			}
			continue
		}
		if len(msg) < window {
			continue
		}
		if windows == nil {
			windows = make(map[string]struct{}, len(msg)-window+1)
			for i := 0; i+window <= len(msg); i++ {
				windows[msg[i:i+window]] = struct{}{}
			}
		}
		for i := 0; i+window <= len(e); i++ {
			if _, ok := windows[e[i:i+window]]; ok {
				return true
			}
		}
	}
	return false
}
