package accountvault

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

// Redacted is what a non-empty [Secret] shows in place of its value through
// fmt, log/slog, encoding/json and encoding.TextMarshaler.
const Redacted = "[REDACTED]"

// Secret holds a value that must not be displayed: a plaintext OAuth token
// or a password hash. Make one with [NewSecret] or [SecretBytes]; the zero
// Secret is empty.
//
// A Secret cannot be printed by any means fmt or log/slog offer. Reached
// directly it redacts itself: every fmt verb (%v, %+v, %#v, %s, %q, %x, %p,
// …), [slog.LogValuer], JSON and text marshalling show [Redacted] (or
// nothing, for an empty Secret). Reached through an unexported field, where
// fmt and slog cannot call its methods, it shows only an address: the value
// is reachable only through a function, which reflection-based printers
// never call. The value is read only
// through [Secret.Reveal], so every place that handles the plaintext can be
// found with grep.
//
// Secrets are not comparable with ==; use [Secret.Equal].
type Secret struct {
	// value returns the secret bytes; nil for an empty Secret. A func,
	// not a pointer: fmt prints the target of a pointer to a slice in
	// some paths (a bad verb through an unexported field), but only the
	// address of a func, whatever the verb and depth. A func also makes
	// Secret not comparable: == would compare identities, not values.
	value func() []byte
}

// NewSecret returns a Secret holding a copy of s.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	b := []byte(s)
	return Secret{value: func() []byte { return b }}
}

// SecretBytes returns a Secret holding b itself, not a copy: the caller
// must not modify b afterwards. It is for code that has just produced b
// (a decryption) and hands it over.
func SecretBytes(b []byte) Secret {
	if len(b) == 0 {
		return Secret{}
	}
	return Secret{value: func() []byte { return b }}
}

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s.Bytes()) }

// Bytes returns the secret value without a copy: the caller must not
// modify the slice. It is nil for an empty Secret.
func (s Secret) Bytes() []byte {
	if s.value == nil {
		return nil
	}
	return s.value()
}

// Len returns the length of the value in bytes.
func (s Secret) Len() int { return len(s.Bytes()) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.Len() == 0 }

// Equal reports whether s and t hold the same value, in time that depends
// on their lengths only.
func (s Secret) Equal(t Secret) bool {
	return subtle.ConstantTimeCompare(s.Bytes(), t.Bytes()) == 1
}

func (s Secret) redacted() string {
	if s.IsZero() {
		return ""
	}
	return Redacted
}

// String returns [Redacted], or "" for an empty Secret.
func (s Secret) String() string { return s.redacted() }

// GoString returns [Redacted] quoted, or `""` for an empty Secret.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.redacted()) }

// Format implements [fmt.Formatter] so that no verb or flag prints the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'q' || (verb == 'v' && f.Flag('#')):
		fmt.Fprintf(f, "%q", s.redacted())
	default:
		fmt.Fprint(f, s.redacted())
	}
}

// LogValue implements [slog.LogValuer].
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// MarshalText implements [encoding.TextMarshaler] with the redaction marker.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

// MarshalJSON implements [json.Marshaler] with the redaction marker.
func (s Secret) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, "%q", s.redacted()), nil }
