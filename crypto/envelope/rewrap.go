package envelope

import (
	"fmt"

	"github.com/accountvault/accountvault/crypto/envelope/internal/format"
)

// Rewrap moves the sealed fields of one row of place p onto kek's primary
// key, without decrypting any token.
//
// For every non-empty field whose key id is not kek.PrimaryID(), Rewrap
// unwraps the data key (once per distinct wrapped key), wraps it again
// with the primary key, and rebuilds the value with the new key id and
// wrapped key and the token's nonce, ciphertext and tag unchanged, byte for
// byte. Fields already on the primary key, and empty fields, are returned
// as they are (the same slices). changed reports whether any field was
// rebuilt; if it is false, out equals sealed.
//
// Rewrap never holds a token's plaintext; it holds each data key only
// between unwrapping and wrapping, and zeroes it. It does not check a
// token's ciphertext: a field whose data key unwraps but whose token was
// tampered with is rewrapped as it is and still fails to open.
//
// Errors are those of [Open]: a *[ColumnError] wrapping
// [accountvault.ErrLegacyPlaintext], [accountvault.ErrUnknownKey] or
// [accountvault.ErrDecrypt] (a value of another place fails to unwrap), or
// an error of kek's Wrap. On error out is the zero Fields.
func Rewrap(kek KEK, p Place, sealed Fields) (out Fields, changed bool, err error) {
	var vals [NumColumns]format.Value
	var stale [NumColumns]bool // on a key other than the primary
	primary := kek.PrimaryID()
	for c, v := range sealed {
		if len(v) == 0 {
			continue
		}
		val, err := format.Parse(v)
		if err != nil {
			return Fields{}, false, &ColumnError{Column(c), err}
		}
		if val.KeyID != primary {
			vals[c], stale[c] = val, true
			changed = true
		}
	}
	if !changed {
		return sealed, false, nil
	}

	ad := format.NewRowAD(make([]byte, 0, format.RowADSize(p.Table, p.ProviderID, p.AccountID, p.UserID)),
		p.Table, p.ProviderID, p.AccountID, p.UserID)
	type rewrapped struct {
		keyID   uint32
		wrapped []byte
	}
	var keys [NumColumns]rewrapped
	var moved Fields // the sealed values to rebuild, as in sealed
	total := 0
	for c, v := range sealed {
		if !stale[c] {
			continue
		}
		moved[c] = v
		if d := sameDEK(&vals, &moved, c); d >= 0 {
			keys[c] = keys[d]
		} else {
			keyID, wrapped, err := rewrapDEK(kek, &vals[c], ad.DEK())
			if err != nil {
				return Fields{}, false, &ColumnError{Column(c), err}
			}
			keys[c] = rewrapped{keyID, wrapped}
		}
		total += format.HeaderSize(len(keys[c].wrapped)) + len(vals[c].Ciphertext)
	}

	buf := make([]byte, total)
	out = sealed
	for c := range moved {
		if !stale[c] {
			continue
		}
		size := format.HeaderSize(len(keys[c].wrapped)) + len(vals[c].Ciphertext)
		b := format.AppendHeader(buf[:0:size], keys[c].keyID, keys[c].wrapped)
		b = append(b, vals[c].Nonce...)
		out[c] = append(b, vals[c].Ciphertext...)
		buf = buf[size:]
	}
	return out, true, nil
}

// rewrapDEK unwraps v's data key and wraps it with kek's primary key.
func rewrapDEK(kek KEK, v *format.Value, ad []byte) (uint32, []byte, error) {
	dek, err := kek.Unwrap(v.KeyID, v.Wrapped, ad)
	if err != nil {
		return 0, nil, err
	}
	defer clear(dek)
	if len(dek) != format.DEKSize {
		return 0, nil, errDEKSize
	}
	keyID, wrapped, err := kek.Wrap(dek, ad)
	if err != nil {
		return 0, nil, fmt.Errorf("envelope: wrapping the data key: %w", err)
	}
	if len(wrapped) == 0 || len(wrapped) > format.MaxWrappedSize {
		return 0, nil, ErrWrappedKeySize
	}
	return keyID, wrapped, nil
}
