package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"strings"
	"testing"
)

func TestNewMasterKey(t *testing.T) {
	a, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two NewMasterKey calls gave the same key")
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(a)
	if err != nil || len(raw) != MasterKeySize {
		t.Fatalf("NewMasterKey: %d bytes, err %v", len(raw), err)
	}
	if _, err := ParseMasterKey(a); err != nil {
		t.Fatalf("ParseMasterKey(NewMasterKey()): %v", err)
	}
}

func TestMasterKeyFromEnv(t *testing.T) {
	key, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvMasterKey, key)
	m1, err := MasterKeyFromEnv(EnvMasterKey)
	if err != nil {
		t.Fatalf("MasterKeyFromEnv: %v", err)
	}
	m2, err := MasterKeyFromEnv("") // the default name
	if err != nil {
		t.Fatalf(`MasterKeyFromEnv(""): %v`, err)
	}
	ct, err := m1.Encrypt([]byte("keyset"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := m2.Decrypt(ct, []byte("ad")); err != nil || string(pt) != "keyset" {
		t.Fatalf("same env key does not decrypt: %v", err)
	}

	t.Setenv("AV_TEST_MASTER_EMPTY", "")
	_, err = MasterKeyFromEnv("AV_TEST_MASTER_EMPTY")
	wantErr(t, "empty variable", err, ErrNoMasterKey)
	_, err = MasterKeyFromEnv("AV_TEST_MASTER_SURELY_UNSET_7f3a")
	wantErr(t, "unset variable", err, ErrNoMasterKey)
	if !strings.Contains(err.Error(), "AV_TEST_MASTER_SURELY_UNSET_7f3a") {
		t.Fatalf("error does not name the variable: %v", err)
	}
}

func TestMasterKeyBadInputs(t *testing.T) {
	good, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	raw32 := bytes.Repeat([]byte{0xa5}, 32)
	bad := map[string]string{
		"not base64":            strings.Repeat("*", 44),
		"31 bytes":              base64.StdEncoding.EncodeToString(raw32[:31]),
		"33 bytes":              base64.StdEncoding.EncodeToString(append(raw32, 1)),
		"16 bytes":              base64.StdEncoding.EncodeToString(raw32[:16]),
		"64 bytes":              base64.StdEncoding.EncodeToString(append(raw32, raw32...)),
		"unpadded":              base64.RawStdEncoding.EncodeToString(raw32),
		"44 chars, no pad":      base64.RawStdEncoding.EncodeToString(append(raw32, 1)),
		"URL alphabet":          strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 16))),
		"trailing newline":      good + "\n",
		"leading space":         " " + good[1:],
		"double padding":        good[:42] + "==",
		"non-zero pad bits":     good[:42] + string(nonCanonical(good[42])) + "=",
		"hex":                   strings.Repeat("ab", 32),
		"one character":         "A",
		"44 spaces":             strings.Repeat(" ", 44),
		"newline in the middle": good[:20] + "\n" + good[21:],
	}
	for name, s := range bad {
		_, err := ParseMasterKey(s)
		wantErr(t, name, err, ErrInvalidMasterKey)
		if leaks(err.Error(), s) {
			t.Fatalf("%s: error shows the value: %v", name, err)
		}
		t.Setenv("AV_TEST_MASTER_BAD", s)
		_, err = MasterKeyFromEnv("AV_TEST_MASTER_BAD")
		wantErr(t, name+" (env)", err, ErrInvalidMasterKey)
		if leaks(err.Error(), s) {
			t.Fatalf("%s: error shows the value: %v", name, err)
		}
	}
}

// TestMasterKeyConstruction checks the documented construction: AES-256-GCM
// with the decoded bytes as key, nonce || ciphertext || tag, no prefix.
func TestMasterKeyConstruction(t *testing.T) {
	m := testMaster(t)
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	pt, ad := []byte("serialized keyset"), []byte("associated data")

	ct, err := m.Encrypt(pt, ad)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) != 12+len(pt)+16 {
		t.Fatalf("ciphertext length %d, want %d", len(ct), 12+len(pt)+16)
	}
	got, err := gcm.Open(nil, ct[:12], ct[12:], ad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("crypto/cipher cannot open the master key's ciphertext: %v", err)
	}

	nonce := bytes.Repeat([]byte{7}, 12)
	ct2 := gcm.Seal(bytes.Clone(nonce), nonce, pt, ad)
	got, err = m.Decrypt(ct2, ad)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("master key cannot open a crypto/cipher ciphertext: %v", err)
	}
}

// leaks reports whether msg contains any 8-character run of secret that is
// not all spaces.
func leaks(msg, secret string) bool {
	for i := 0; i+8 <= len(secret); i++ {
		w := secret[i : i+8]
		if strings.TrimSpace(w) != "" && strings.Contains(msg, w) {
			return true
		}
	}
	return false
}
