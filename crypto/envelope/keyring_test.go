package envelope

import (
	"os"
	"testing"

	"github.com/accountvault/accountvault/keyring"
)

// legacyKeyringFile is a keyring of four AES-256-GCM keys, as versions of
// package keyring before XAES-256-GCM made it: one of keyring's golden files.
const legacyKeyringFile = "../../keyring/testdata/keyring-v1-cleartext.json"

// legacyKeyringKEK returns the KEK of legacyKeyringFile, whose primary is an
// AES-256-GCM key.
func legacyKeyringKEK(tb testing.TB) *keyring.KEK {
	tb.Helper()
	f, err := os.Open(legacyKeyringFile)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	k, err := keyring.InsecureLoadCleartext(f)
	if err != nil {
		tb.Fatalf("%s: %v", legacyKeyringFile, err)
	}
	kek, err := k.KEK()
	if err != nil {
		tb.Fatal(err)
	}
	if alg, _ := kek.Algorithm(kek.PrimaryID()); alg != keyring.AES256GCM {
		tb.Fatalf("%s: primary key is %v, want AES-256-GCM", legacyKeyringFile, alg)
	}
	return kek
}

// newKeyringKEK returns the KEK of a new keyring of four keys, all
// XAES-256-GCM.
func newKeyringKEK(tb testing.TB) *keyring.KEK {
	tb.Helper()
	k, err := keyring.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	for range 3 {
		if _, err := k.Stage(); err != nil {
			tb.Fatal(err)
		}
	}
	kek, err := k.KEK()
	if err != nil {
		tb.Fatal(err)
	}
	if alg, _ := kek.Algorithm(kek.PrimaryID()); alg != keyring.XAES256GCM {
		tb.Fatalf("new keyring's primary key is %v, want XAES-256-GCM", alg)
	}
	return kek
}

// TestKeyringKEKs seals and opens rows with keyring KEKs of both
// algorithms: the wrapped data key is 60 bytes under AES-256-GCM and 72
// under XAES-256-GCM, within the format's 255, and a value's length follows.
func TestKeyringKEKs(t *testing.T) {
	plain := testRow(t)
	for _, c := range []struct {
		name    string
		kek     *keyring.KEK
		wrapped int
	}{
		{"AES-256-GCM", legacyKeyringKEK(t), 60},
		{"XAES-256-GCM", newKeyringKEK(t), 72},
	} {
		t.Run(c.name, func(t *testing.T) {
			alg, _ := c.kek.Algorithm(c.kek.PrimaryID())
			if 32+alg.WrapOverhead() != c.wrapped || c.wrapped > 32+keyring.MaxWrapOverhead {
				t.Fatalf("%v: wrap overhead %d", alg, alg.WrapOverhead())
			}
			sealed, err := Seal(c.kek, testPlace, plain)
			if err != nil {
				t.Fatal(err)
			}
			for col := range sealed {
				if sealed[col][8] != byte(c.wrapped) || len(sealed[col]) != 9+c.wrapped+12+len(plain[col])+16 {
					t.Errorf("%v: wlen %d, %d bytes", Column(col), sealed[col][8], len(sealed[col]))
				}
			}
			opened, err := Open(c.kek, testPlace, sealed)
			if err != nil {
				t.Fatal(err)
			}
			for col := range opened {
				if string(opened[col]) != string(plain[col]) {
					t.Errorf("%v: opened other bytes", Column(col))
				}
			}
		})
	}
}
