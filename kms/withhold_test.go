package kms

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestQuotes(t *testing.T) {
	secret := append([]byte("\x0a\x30type.googleapis.com/google.crypto.tink.AesGcmKey\x12\x22\x1a\x20"), randBytes(t, 32)...)
	b64 := base64.StdEncoding.EncodeToString(secret)
	hx := hex.EncodeToString(secret)
	mangled := strings.ToValidUTF8(string(secret), "\ufffd") // a JSON encoder's replacement of invalid bytes
	for _, tc := range []struct {
		name string
		msg  string
		want bool
	}{
		{"raw", "Value '" + string(secret) + "' at 'Plaintext'", true},
		{"mangled by JSON", `{"message":"Value '` + mangled + `'"}`, true},
		{"base64", "plaintext " + b64 + " rejected", true},
		{"base64 truncated", "plaintext " + b64[:20] + "…", true},
		{"base64 url", base64.URLEncoding.EncodeToString(secret), true},
		{"hex middle", "x" + hx[30:50] + "y", true},
		{"hex upper", strings.ToUpper(hx[10:40]), true},
		{"unrelated", "operation error KMS: Decrypt, https response error StatusCode: 400, AccessDeniedException: User is not authorized", false},
		{"fifteen hex characters", hx[:window-1], false},
		{"empty", "", false},
	} {
		if got := quotes(tc.msg, secret); got != tc.want {
			t.Errorf("%s: quotes = %v; want %v", tc.name, got, tc.want)
		}
	}
	// Short secrets are looked for whole.
	if !quotes("token abc123 expired", []byte("abc123")) || quotes("token expired", []byte("abc123")) {
		t.Error("a short secret is not looked for whole")
	}
	if quotes("anything", nil) {
		t.Error("an empty secret is quoted")
	}
}

func TestWithhold(t *testing.T) {
	cause := errors.New("bad request: " + base64.StdEncoding.EncodeToString([]byte("a serialized keyset, secret")))
	if got := withhold(cause, []byte("something else entirely"), []byte("a serialized keyset, secret")); got != errWithheld {
		t.Errorf("withhold of a quoting error = %v; want errWithheld", got)
	}
	if got := withhold(cause, []byte("something else entirely")); got != cause {
		t.Errorf("withhold of a clean error = %v; want it unchanged", got)
	}
}
