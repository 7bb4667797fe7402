package format

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/accountvault/accountvault"
)

func sample(wrappedLen, ctLen int) []byte {
	b := AppendHeader(nil, 0x01020304, bytes.Repeat([]byte{0xEE}, wrappedLen))
	b = append(b, bytes.Repeat([]byte{0x11}, NonceSize)...)
	return append(b, bytes.Repeat([]byte{0x22}, ctLen)...)
}

func TestParse(t *testing.T) {
	b := sample(60, 17)
	v, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if v.KeyID != 0x01020304 || len(v.Wrapped) != 60 || len(v.Nonce) != 12 || len(v.Ciphertext) != 17 || v.PlaintextSize() != 1 {
		t.Errorf("Parse = id %#x, %d, %d, %d", v.KeyID, len(v.Wrapped), len(v.Nonce), len(v.Ciphertext))
	}
	if &v.Wrapped[0] != &b[9] || &v.Nonce[0] != &b[69] || &v.Ciphertext[0] != &b[81] {
		t.Error("Parse copied instead of aliasing its input")
	}
	if cap(v.Wrapped) != 60 || cap(v.Nonce) != 12 {
		t.Error("parsed parts can be appended into their neighbours")
	}
	if !bytes.Equal(b[:9], []byte{0xA7, 'a', 'v', 1, 1, 2, 3, 4, 60}) {
		t.Errorf("header = % x", b[:9])
	}
	// Limits: 1..255 wrapped bytes, at least one ciphertext byte, MaxSize.
	for _, ok := range [][]byte{sample(1, 17), sample(255, 17), sample(255, MaxPlaintext+TagSize)} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("Parse(%d bytes) = %v", len(ok), err)
		}
	}
	if len(sample(255, MaxPlaintext+TagSize)) != MaxSize {
		t.Error("MaxSize does not match the largest value")
	}
}

func TestParseErrors(t *testing.T) {
	good := sample(60, 40)
	set := func(i int, x byte) []byte { b := bytes.Clone(good); b[i] = x; return b }
	for name, b := range map[string][]byte{
		"magic 1":         set(1, 'A'),
		"magic 2":         set(2, 'V'),
		"version 0":       set(3, 0),
		"version 2":       set(3, 2),
		"wrapped len 0":   set(8, 0),
		"wrapped len big": set(8, 255),
		"truncated 1":     good[:1],
		"truncated 3":     good[:3],
		"truncated 4":     good[:4],
		"truncated 8":     good[:8],
		"truncated 9":     good[:9],
		"truncated 69":    good[:69],
		"truncated 81":    good[:81],
		"tag only":        good[:81+16],
		"too long":        sample(255, MaxPlaintext+TagSize+1),
	} {
		_, err := Parse(b)
		if !errors.Is(err, ErrMalformed) || !errors.Is(err, accountvault.ErrDecrypt) || errors.Is(err, accountvault.ErrLegacyPlaintext) {
			t.Errorf("%s: Parse = %v, want ErrMalformed", name, err)
		}
	}
	for _, b := range [][]byte{nil, {}, []byte("ya29.x"), set(0, 0x27), set(0, 0xA6)} {
		if _, err := Parse(b); err != accountvault.ErrLegacyPlaintext {
			t.Errorf("Parse(legacy %d bytes) = %v", len(b), err)
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	inputs := [][]byte{sample(60, 40), sample(60, 40)[:50], []byte("legacy"), {0xA7, 'a', 'v', 9}}
	allocs := testing.AllocsPerRun(100, func() {
		for _, b := range inputs {
			Parse(b)
		}
	})
	if allocs != 0 {
		t.Errorf("Parse allocates %v times per run", allocs)
	}
}

func TestRowAD(t *testing.T) {
	const table, provider, account, user = "accounts", "google", "1102", "u1"
	ad := NewRowAD(make([]byte, 0, RowADSize(table, provider, account, user)), table, provider, account, user)
	wantDEK := "00000013" + hex.EncodeToString([]byte("accountvault/v1/dek")) +
		"00000008" + hex.EncodeToString([]byte("accounts")) +
		"00000006" + hex.EncodeToString([]byte("google")) +
		"00000004" + hex.EncodeToString([]byte("1102")) +
		"00000002" + hex.EncodeToString([]byte("u1"))
	if got := hex.EncodeToString(ad.DEK()); got != wantDEK {
		t.Errorf("DEK AD = %s\nwant       %s", got, wantDEK)
	}
	wantField := "00000015" + hex.EncodeToString([]byte("accountvault/v1/field")) + wantDEK[8+2*19:] +
		"0000000d" + hex.EncodeToString([]byte("refresh_token"))
	if got := hex.EncodeToString(ad.Field(1)); got != wantField {
		t.Errorf("field AD = %s\nwant         %s", got, wantField)
	}
	// Each Field call replaces the previous column; the DEK AD is intact.
	if got := string(ad.Field(2)); got[len(got)-8:] != "id_token" {
		t.Error("Field(2) does not end in id_token")
	}
	if got := string(ad.Field(1)); got[len(got)-13:] != "refresh_token" {
		t.Error("Field(1) after Field(2) does not end in refresh_token")
	}
	if hex.EncodeToString(ad.DEK()) != wantDEK {
		t.Error("Field overwrote the DEK AD")
	}
	if allocs := testing.AllocsPerRun(10, func() {
		for c := range ColumnNames {
			ad.Field(c)
		}
	}); allocs != 0 {
		t.Errorf("Field allocates %v times", allocs)
	}
}

func TestRowADInjective(t *testing.T) {
	a := NewRowAD(make([]byte, 0, 256), "t", "ab", "c", "u")
	b := NewRowAD(make([]byte, 0, 256), "t", "a", "bc", "u")
	if bytes.Equal(a.DEK(), b.DEK()) || bytes.Equal(a.Field(0), b.Field(0)) {
		t.Error("(ab, c) and (a, bc) give the same associated data")
	}
	c := NewRowAD(make([]byte, 0, 256), "", "", "", "")
	if bytes.Equal(c.DEK(), c.Field(0)[:len(c.DEK())]) {
		t.Error("a DEK AD is a prefix of a field AD")
	}
}
