package keyring

import (
	"fmt"
	"time"
)

// Status is a key's place in its life cycle.
//
//	Stage ──▶ Staged ──Promote──▶ Primary ──Promote(other)──▶ DecryptOnly
//	                                                            │   ▲
//	             Staged, DecryptOnly ──Disable──▶ Disabled ──Enable─┘
//	                                              │
//	                                            Delete ──▶ (gone)
//
// Staged, Primary and DecryptOnly keys unwrap; only the Primary key wraps.
// In the Tink keyset, Staged and DecryptOnly are both ENABLED non-primary
// keys: the difference (a new key waiting for promotion, or an old key kept
// for the rows not yet rewrapped) is this package's metadata.
type Status int

const (
	// Staged: a new key, enabled for unwrapping but never used to wrap.
	// Stage a key on every replica before promoting it, so that every
	// replica can unwrap what the first promoted one wraps.
	Staged Status = iota + 1

	// Primary: the one key that wraps new data-encryption keys. It also
	// unwraps.
	Primary

	// DecryptOnly: a former primary (or a re-enabled key). It unwraps the
	// data-encryption keys wrapped while it was primary, until a rewrap
	// moves them to the current primary.
	DecryptOnly

	// Disabled: kept in the keyring but neither wraps nor unwraps. A
	// disabled key can be enabled again (it becomes DecryptOnly) or
	// deleted.
	Disabled
)

// String returns "staged", "primary", "decrypt-only" or "disabled", the
// names used in the keyring file.
func (s Status) String() string {
	switch s {
	case Staged:
		return "staged"
	case Primary:
		return "primary"
	case DecryptOnly:
		return "decrypt-only"
	case Disabled:
		return "disabled"
	default:
		return fmt.Sprintf("Status(%d)", int(s))
	}
}

// MarshalText implements [encoding.TextMarshaler] with the names of
// [Status.String]. It fails for a Status that is not one of the four.
func (s Status) MarshalText() ([]byte, error) {
	if !s.valid() {
		return nil, fmt.Errorf("keyring: invalid status %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler], accepting exactly the
// names of [Status.String].
func (s *Status) UnmarshalText(text []byte) error {
	st, ok := parseStatus(string(text))
	if !ok {
		return fmt.Errorf("keyring: unknown status %q", text)
	}
	*s = st
	return nil
}

func (s Status) valid() bool { return s >= Staged && s <= Disabled }

// canUnwrap reports whether a key in status s is in the keyset primitive.
func (s Status) canUnwrap() bool { return s == Staged || s == Primary || s == DecryptOnly }

func parseStatus(name string) (Status, bool) {
	for s := Staged; s <= Disabled; s++ {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// KeyInfo describes one key of a [Keyring]. It holds no key material.
type KeyInfo struct {
	ID      uint32    // Tink key id; also the id stored in sealed values
	Status  Status    // see [Status]
	Created time.Time // when Generate, Stage or Rotate created the key, in UTC
	// Since is the keyring generation (see [Keyring.Generation]) of the
	// edit that gave the key its Status: 0 for every key of a version 1
	// file, which had no generations.
	Since uint64
}
