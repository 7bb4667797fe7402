package envelope

import (
	"bytes"
	"crypto/cipher"

	"github.com/accountvault/accountvault/crypto/envelope/internal/format"
)

// Open opens the sealed fields of one row of place p.
//
// Every non-empty field is parsed first; then each distinct wrapped data
// key (normally one per row) is unwrapped once with kek, and each field is
// opened with AES-256-GCM under its data key. Empty fields stay nil.
//
// On failure Open returns no plaintext and a *[ColumnError] naming the
// first failing column (in column order) and wrapping
// [accountvault.ErrLegacyPlaintext] for a value without the format's
// magic byte, [accountvault.ErrUnknownKey] if kek does not hold the key
// id, or [accountvault.ErrDecrypt] (via [ErrMalformed] for a malformed
// value) if anything fails to authenticate, including a value sealed for
// another place or column. Errors of kek other than these are wrapped as
// kek returned them.
//
// The plaintexts share one backing array; each has its capacity equal to
// its length. Unwrapped data keys are zeroed before Open returns.
func Open(kek KEK, p Place, sealed Fields) (Fields, error) {
	var vals [NumColumns]format.Value
	n, total := 0, 0
	for c, v := range sealed {
		if len(v) == 0 {
			continue
		}
		val, err := format.Parse(v)
		if err != nil {
			return Fields{}, &ColumnError{Column(c), err}
		}
		vals[c] = val
		n++
		total += val.PlaintextSize()
	}
	if n == 0 {
		return Fields{}, nil
	}

	// One allocation for the plaintexts and, after them, the associated data.
	out := make([]byte, total+format.RowADSize(p.Table, p.ProviderID, p.AccountID, p.UserID))
	ad := format.NewRowAD(out[total:], p.Table, p.ProviderID, p.AccountID, p.UserID)
	var aeads [NumColumns]cipher.AEAD
	for c := range sealed {
		if len(sealed[c]) == 0 {
			continue
		}
		if d := sameDEK(&vals, &sealed, c); d >= 0 {
			aeads[c] = aeads[d]
			continue
		}
		aead, err := unwrap(kek, &vals[c], ad.DEK())
		if err != nil {
			return Fields{}, &ColumnError{Column(c), err}
		}
		aeads[c] = aead
	}

	var plain Fields
	rest := out[:total]
	for c, v := range sealed {
		if len(v) == 0 {
			continue
		}
		size := vals[c].PlaintextSize()
		pt, err := aeads[c].Open(rest[:0:size], vals[c].Nonce, vals[c].Ciphertext, ad.Field(c))
		if err != nil {
			clear(out[:total])
			return Fields{}, &ColumnError{Column(c), errAuth}
		}
		plain[c] = pt
		rest = rest[size:]
	}
	return plain, nil
}

// sameDEK returns the first column before c whose value carries the same
// key id and wrapped data key as column c, or -1.
func sameDEK(vals *[NumColumns]format.Value, sealed *Fields, c int) int {
	for d := range c {
		if len(sealed[d]) > 0 && vals[d].KeyID == vals[c].KeyID && bytes.Equal(vals[d].Wrapped, vals[c].Wrapped) {
			return d
		}
	}
	return -1
}

// unwrap unwraps v's data key with kek and returns its cipher, zeroing the
// key.
func unwrap(kek KEK, v *format.Value, ad []byte) (cipher.AEAD, error) {
	dek, err := kek.Unwrap(v.KeyID, v.Wrapped, ad)
	if err != nil {
		return nil, err
	}
	defer clear(dek)
	if len(dek) != format.DEKSize {
		return nil, errDEKSize
	}
	return newAEAD(dek)
}
