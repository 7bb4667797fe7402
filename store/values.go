package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
)

// A valueKind is what a stored token value is taken for.
type valueKind uint8

const (
	valueEmpty valueKind = iota
	// valueSealed has the sealed format's prefix (it may still fail to
	// open).
	valueSealed
	// valueLegacy is plaintext that may be legacy data: the table is
	// being adopted, the row holds no sealed value, and the value is UTF-8
	// text without NUL bytes, as every OAuth token is.
	valueLegacy
	// valueUnexpected is unsealed where no legacy plaintext can be: see
	// accountvault.ErrUnexpectedPlaintext.
	valueUnexpected
)

// classify decides what each of a row's token values is. The decision
// rests on the sealed format's prefix, the table's adoption state (kept by
// the backend, set by Adopt) and the row's other values: a database writer
// can plant a plaintext value, but it is then sealed by nobody and opened
// by nobody, because:
//   - once adoption has finished (legacyOpen false), no plaintext is legacy;
//   - a row that holds a sealed value was written by a store, which seals
//     every token it writes, so a plaintext value beside it is planted;
//   - a value that is not text is not a token (a sealed value whose prefix
//     was damaged, for one).
func classify(f *envelope.Fields, legacyOpen bool) (k [envelope.NumColumns]valueKind) {
	anySealed := false
	for c, v := range f {
		switch {
		case len(v) == 0:
			k[c] = valueEmpty
		case envelope.IsSealed(v):
			k[c] = valueSealed
			anySealed = true
		case legacyOpen && utf8.Valid(v) && bytes.IndexByte(v, 0) < 0:
			k[c] = valueLegacy
		default:
			k[c] = valueUnexpected
		}
	}
	if anySealed {
		for c := range k {
			if k[c] == valueLegacy {
				k[c] = valueUnexpected
			}
		}
	}
	return k
}

// legacyOpen reports whether the table is being adopted: its backend keeps
// metadata and Adopt marked the table, and legacy sealing has not finished.
func (s *Store) legacyOpen(ctx context.Context) (bool, error) {
	if s.meta == nil {
		return false, nil
	}
	v, err := s.meta.Meta(ctx, metaLegacy)
	switch {
	case errors.Is(err, accountvault.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store: reading the table's adoption state: %w", err)
	}
	return string(v) == legacyOpenValue, nil
}

// The metadata names the store uses. metaLegacy and its value are written
// by the backends' Adopt.
const (
	metaLegacy      = "legacy"
	legacyOpenValue = "open"
	metaKeyCheck    = "keycheck"
	metaGeneration  = "keyring_generation"
)

// unsealedError is the error for an unsealed token value of kind k.
func unsealedError(c envelope.Column, k valueKind) error {
	if k == valueLegacy {
		return &envelope.ColumnError{Column: c, Err: accountvault.ErrLegacyPlaintext}
	}
	return &envelope.ColumnError{Column: c, Err: accountvault.ErrUnexpectedPlaintext}
}
