package envelope

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope/internal/format"
)

// The seed corpora under testdata/fuzz/ are written from the test vectors
// (see vectors_test.go); the f.Add seeds below add a few edge cases.

// FuzzParse checks the sealed-value parser: it never panics, refuses or
// accepts consistently with IsSealed and KeyID, and what it accepts
// re-encodes to exactly its input, with its parts aliasing the input.
func FuzzParse(f *testing.F) {
	f.Add([]byte{0xA7})
	f.Add([]byte{0xA7, 'a', 'v', 1, 0, 0, 0, 1, 1, 0})
	f.Add(append(format.AppendHeader(nil, 1, []byte{9}), make([]byte, 12+17)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := format.Parse(b)
		id, kerr := KeyID(b)
		if (err == nil) != (kerr == nil) || (err == nil && id != v.KeyID) {
			t.Fatalf("Parse and KeyID disagree: %v, %v", err, kerr)
		}
		if IsSealed(b) == (err == accountvault.ErrLegacyPlaintext) {
			t.Fatalf("IsSealed = %v, Parse error %v", IsSealed(b), err)
		}
		if err != nil {
			if err != accountvault.ErrLegacyPlaintext && !(errors.Is(err, ErrMalformed) && errors.Is(err, accountvault.ErrDecrypt)) {
				t.Fatalf("Parse error %v wraps no expected sentinel", err)
			}
			return
		}
		if len(b) > MaxSealedSize || len(v.Wrapped) == 0 || len(v.Wrapped) > 255 || len(v.Nonce) != 12 || v.PlaintextSize() < 1 {
			t.Fatalf("Parse accepted a value outside the limits: %d bytes, wrapped %d", len(b), len(v.Wrapped))
		}
		re := format.AppendHeader(nil, v.KeyID, v.Wrapped)
		re = append(append(re, v.Nonce...), v.Ciphertext...)
		if !bytes.Equal(re, b) {
			t.Fatal("parsed value does not re-encode to its input")
		}
		if &v.Ciphertext[len(v.Ciphertext)-1] != &b[len(b)-1] {
			t.Fatal("Parse copied its input")
		}
	})
}

// FuzzOpen puts arbitrary bytes in the three columns of a row and opens
// and rewraps it with the vectors' KEKs (two AES-256-GCM, the XAES-256-GCM
// primary): no panic, and every failure is a
// *ColumnError wrapping exactly one sentinel. A row that rewraps opens to
// the same plaintexts as before.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("ya29.token"), []byte(nil), []byte{0xA7, 'a', 'v', 1})
	kek := &testKEK{primary: vecXAESID, aeads: map[uint32]cipher.AEAD{}}
	for _, id := range []uint32{vecOldID, vecAESID, vecXAESID} {
		kek.aeads[id] = vecKEK(id)
	}
	p := Place{Table: "accounts", UserID: "user_2f9a61c0", ProviderID: "google", AccountID: "110248495921238986420"}
	check := func(t *testing.T, err error) {
		t.Helper()
		var ce *ColumnError
		if !errors.As(err, &ce) || int(ce.Column) >= NumColumns {
			t.Fatalf("error %v is not a *ColumnError", err)
		}
		n := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error %v wraps %d sentinels", err, n)
		}
	}
	f.Fuzz(func(t *testing.T, access, refresh, id []byte) {
		row := Fields{access, refresh, id}
		opened, err := Open(kek, p, row)
		if err != nil {
			check(t, err)
			if !isZero(opened) {
				t.Fatal("failed Open returned plaintext")
			}
		} else {
			for c := range row {
				if (len(row[c]) == 0) != (opened[c] == nil) {
					t.Fatalf("%v: %d bytes opened to %d", Column(c), len(row[c]), len(opened[c]))
				}
			}
		}
		out, _, rerr := Rewrap(kek, p, row)
		if rerr != nil {
			check(t, rerr)
			return
		}
		again, err2 := Open(kek, p, out)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("Open before rewrap: %v, after: %v", err, err2)
		}
		for c := range again {
			if !bytes.Equal(again[c], opened[c]) {
				t.Fatalf("%v: rewrap changed the plaintext", Column(c))
			}
		}
	})
}

// FuzzDecodeText checks that DecodeText never panics, that what it accepts
// is canonical (EncodeText gives the input back) and bounded, and that its
// errors wrap ErrMalformed.
func FuzzDecodeText(f *testing.F) {
	f.Add("av1:")
	f.Add("av1:p2F2AV5vcIE")
	f.Add("av1:\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeText(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, accountvault.ErrDecrypt) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(b) > MaxSealedSize {
			t.Fatalf("decoded %d bytes", len(b))
		}
		if EncodeText(b) != s {
			t.Fatal("accepted a non-canonical text form")
		}
	})
}
