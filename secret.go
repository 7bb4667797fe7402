package accountvault

import (
	"fmt"
	"log/slog"
)

// Redacted is what a non-empty [Secret] shows in place of its value through
// fmt, log/slog, encoding/json and encoding.TextMarshaler.
const Redacted = "[REDACTED]"

// Secret holds a value that must not be displayed: an OAuth token, a sealed
// token, or a password hash.
//
// A Secret redacts itself everywhere a value is commonly printed or encoded:
// every fmt verb (%v, %+v, %#v, %s, %q, %x, …), [slog.LogValuer], JSON and
// text marshalling all show [Redacted] (or nothing, for an empty Secret). The
// value is read only through [Secret.Reveal], so every place that handles the
// plaintext can be found with grep.
//
// Secret is a string type, so a conversion such as string(s) also yields the
// value; prefer Reveal, which says what it does.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }

func (s Secret) redacted() string {
	if s == "" {
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
