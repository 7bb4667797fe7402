package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope/internal/format"
)

var testPlace = Place{Table: "accounts", UserID: "user_2f9a61c0", ProviderID: "google", AccountID: "110248495921238986420"}

func testRow(tb testing.TB) Fields {
	return Fields{randomBytes(tb, 700), randomBytes(tb, 120), randomBytes(tb, 1100)}
}

// sentinels are the errors every failure to open must wrap one of.
var sentinels = []error{accountvault.ErrDecrypt, accountvault.ErrUnknownKey, accountvault.ErrLegacyPlaintext}

// checkColumnError checks that err is a *ColumnError for column c that
// wraps want and no other sentinel, and that its message names the column
// and does not contain any of the secrets.
func checkColumnError(t *testing.T, err error, c Column, want error, secrets ...[]byte) {
	t.Helper()
	var ce *ColumnError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *ColumnError", err, err)
	}
	if ce.Column != c {
		t.Errorf("error names column %v, want %v", ce.Column, c)
	}
	for _, s := range sentinels {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("errors.Is(err, %v) = %v, error: %v", s, got, err)
		}
	}
	if want != nil && !errors.Is(err, want) {
		t.Errorf("error %v does not wrap %v", err, want)
	}
	msg := err.Error()
	if !strings.Contains(msg, c.String()) {
		t.Errorf("error message %q does not name column %v", msg, c)
	}
	for _, s := range secrets {
		if len(s) >= 4 && strings.Contains(msg, string(s)) {
			t.Errorf("error message contains a secret (%d bytes)", len(s))
		}
	}
}

func isZero(f Fields) bool { return f[0] == nil && f[1] == nil && f[2] == nil }

func TestSealOpen(t *testing.T) {
	kek := randomTestKEK(t)
	for _, plain := range []Fields{
		testRow(t),
		{randomBytes(t, 1), nil, nil},
		{nil, []byte{}, randomBytes(t, 2048)},
		{randomBytes(t, MaxPlaintext), randomBytes(t, MaxPlaintext), randomBytes(t, MaxPlaintext)},
	} {
		name := fmt.Sprintf("%d,%d,%d", len(plain[0]), len(plain[1]), len(plain[2]))
		t.Run(name, func(t *testing.T) {
			wraps, unwraps := kek.wraps.Load(), kek.unwraps.Load()
			sealed, err := Seal(kek, testPlace, plain)
			if err != nil {
				t.Fatal(err)
			}
			if n := kek.wraps.Load() - wraps; n != 1 {
				t.Errorf("Seal called Wrap %d times, want 1", n)
			}
			var first format.Value
			for c := range sealed {
				if len(plain[c]) == 0 {
					if sealed[c] != nil {
						t.Errorf("%v: empty plaintext sealed to %d bytes, want nil", Column(c), len(sealed[c]))
					}
					continue
				}
				v, err := format.Parse(sealed[c])
				if err != nil {
					t.Fatalf("%v: %v", Column(c), err)
				}
				if want := format.HeaderSize(60) + len(plain[c]) + 16; len(sealed[c]) != want || cap(sealed[c]) != want {
					t.Errorf("%v: sealed len %d cap %d, want %d", Column(c), len(sealed[c]), cap(sealed[c]), want)
				}
				if len(sealed[c]) > MaxSealedSize || len(sealed[c]) > accountvault.MaxTokenSize {
					t.Errorf("%v: sealed value of %d bytes exceeds the limits", Column(c), len(sealed[c]))
				}
				if v.KeyID != kek.PrimaryID() {
					t.Errorf("%v: key id %#x, want primary %#x", Column(c), v.KeyID, kek.PrimaryID())
				}
				if first.Wrapped == nil {
					first = v
				} else if !bytes.Equal(first.Wrapped, v.Wrapped) {
					t.Errorf("%v: wrapped data key differs from the row's first", Column(c))
				}
				if len(plain[c]) >= 16 && bytes.Contains(sealed[c], plain[c]) {
					t.Errorf("%v: sealed value contains the plaintext", Column(c))
				}
			}

			opened, err := Open(kek, testPlace, sealed)
			if err != nil {
				t.Fatal(err)
			}
			if n := kek.unwraps.Load() - unwraps; n != 1 {
				t.Errorf("Open called Unwrap %d times, want 1", n)
			}
			for c := range opened {
				if !bytes.Equal(opened[c], plain[c]) {
					t.Errorf("%v: opened %d bytes, not the %d sealed", Column(c), len(opened[c]), len(plain[c]))
				}
				if len(plain[c]) == 0 && opened[c] != nil {
					t.Errorf("%v: empty field opened to non-nil", Column(c))
				}
				if cap(opened[c]) != len(opened[c]) {
					t.Errorf("%v: opened cap %d, len %d", Column(c), cap(opened[c]), len(opened[c]))
				}
			}
		})
	}
}

func TestSealFresh(t *testing.T) {
	kek := randomTestKEK(t)
	plain := Fields{[]byte("same token"), []byte("same token"), nil}
	a, err := Seal(kek, testPlace, plain)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Seal(kek, testPlace, plain)
	if err != nil {
		t.Fatal(err)
	}
	va, _ := format.Parse(a[0])
	vb, _ := format.Parse(b[0])
	va1, _ := format.Parse(a[1])
	if bytes.Equal(va.Wrapped, vb.Wrapped) {
		t.Error("two Seal calls produced the same wrapped data key")
	}
	if bytes.Equal(va.Nonce, vb.Nonce) || bytes.Equal(va.Nonce, va1.Nonce) {
		t.Error("nonces repeat")
	}
	if bytes.Equal(va.Ciphertext, va1.Ciphertext) {
		t.Error("equal tokens in two columns gave equal ciphertexts")
	}
}

func TestSealEmptyRow(t *testing.T) {
	kek := randomTestKEK(t)
	sealed, err := Seal(kek, testPlace, Fields{nil, {}, nil})
	if err != nil {
		t.Fatal(err)
	}
	if !isZero(sealed) {
		t.Errorf("an empty row sealed to non-empty fields")
	}
	opened, err := Open(kek, testPlace, Fields{})
	if err != nil || !isZero(opened) {
		t.Errorf("Open(empty) = non-empty, %v", err)
	}
	if kek.wraps.Load() != 0 || kek.unwraps.Load() != 0 {
		t.Errorf("an empty row called the KEK (%d wraps, %d unwraps)", kek.wraps.Load(), kek.unwraps.Load())
	}
}

func TestSealTooLarge(t *testing.T) {
	kek := randomTestKEK(t)
	big := make([]byte, MaxPlaintext+1)
	_, err := Seal(kek, testPlace, Fields{[]byte("ok"), nil, big})
	var ce *ColumnError
	if !errors.As(err, &ce) || ce.Column != IDToken {
		t.Fatalf("error %v, want a *ColumnError for id_token", err)
	}
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, accountvault.ErrInvalidAccount) {
		t.Errorf("error %v does not wrap ErrTooLarge and ErrInvalidAccount", err)
	}
	if kek.wraps.Load() != 0 {
		t.Error("Seal called the KEK before checking sizes")
	}
}

func TestMaxSealedSize(t *testing.T) {
	if MaxSealedSize != 4+4+1+255+12+MaxPlaintext+16 {
		t.Errorf("MaxSealedSize = %d", MaxSealedSize)
	}
	if MaxSealedSize > accountvault.MaxTokenSize {
		t.Errorf("MaxSealedSize %d exceeds accountvault.MaxTokenSize %d", MaxSealedSize, accountvault.MaxTokenSize)
	}
	// A well-formed value one byte over the limit is refused by its size.
	v := format.AppendHeader(nil, 7, make([]byte, 255))
	v = append(v, make([]byte, 12+MaxPlaintext+16+1)...)
	kek := randomTestKEK(t)
	_, err := Open(kek, testPlace, Fields{v})
	checkColumnError(t, err, AccessToken, accountvault.ErrDecrypt)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("error %v does not wrap ErrMalformed", err)
	}
	if kek.unwraps.Load() != 0 {
		t.Error("Open called the KEK for an oversized value")
	}
}

func TestOpenWrongPlace(t *testing.T) {
	kek := randomTestKEK(t)
	plain := testRow(t)
	sealed, err := Seal(kek, testPlace, plain)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]Place{
		"table":    {Table: "accounts2", UserID: testPlace.UserID, ProviderID: testPlace.ProviderID, AccountID: testPlace.AccountID},
		"user":     {Table: testPlace.Table, UserID: "user_other", ProviderID: testPlace.ProviderID, AccountID: testPlace.AccountID},
		"provider": {Table: testPlace.Table, UserID: testPlace.UserID, ProviderID: "github", AccountID: testPlace.AccountID},
		"account":  {Table: testPlace.Table, UserID: testPlace.UserID, ProviderID: testPlace.ProviderID, AccountID: "110248495921238986421"},
		"shifted":  {Table: testPlace.Table, UserID: testPlace.UserID, ProviderID: "googl", AccountID: "e" + testPlace.AccountID},
		"empty":    {},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(kek, p, sealed)
			checkColumnError(t, err, AccessToken, accountvault.ErrDecrypt, plain[:]...)
		})
	}
	t.Run("column", func(t *testing.T) {
		_, err := Open(kek, testPlace, Fields{sealed[0], sealed[0], sealed[2]})
		checkColumnError(t, err, RefreshToken, accountvault.ErrDecrypt, plain[:]...)
		_, err = Open(kek, testPlace, Fields{sealed[0], sealed[2], sealed[1]})
		checkColumnError(t, err, RefreshToken, accountvault.ErrDecrypt, plain[:]...)
	})
	t.Run("other row", func(t *testing.T) {
		other, err := Seal(kek, testPlace, testRow(t))
		if err != nil {
			t.Fatal(err)
		}
		// A value of another row of the same place opens: that is a
		// rollback, which this format does not detect (see FORMAT.md).
		mixed := Fields{sealed[0], other[1], sealed[2]}
		unwraps := kek.unwraps.Load()
		opened, err := Open(kek, testPlace, mixed)
		if err != nil {
			t.Fatal(err)
		}
		if n := kek.unwraps.Load() - unwraps; n != 2 {
			t.Errorf("a row with two wrapped keys took %d unwraps, want 2", n)
		}
		if !bytes.Equal(opened[0], plain[0]) || !bytes.Equal(opened[2], plain[2]) {
			t.Error("mixed row opened to wrong plaintexts")
		}
	})
}

func TestOpenErrors(t *testing.T) {
	kek := randomTestKEK(t)
	plain := testRow(t)
	sealed, err := Seal(kek, testPlace, plain)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(c Column, f func(v []byte) []byte) Fields {
		out := sealed
		out[c] = f(bytes.Clone(sealed[c]))
		return out
	}
	tests := []struct {
		name string
		kek  KEK
		row  Fields
		col  Column
		want error
	}{
		{"legacy", kek, mutate(RefreshToken, func([]byte) []byte { return []byte("1//0g-legacy-refresh-token") }), RefreshToken, accountvault.ErrLegacyPlaintext},
		{"unknown key", kek.without(kek.PrimaryID()), sealed, AccessToken, accountvault.ErrUnknownKey},
		{"key id", kek, mutate(IDToken, func(v []byte) []byte { v[7] ^= 1; return v }), IDToken, accountvault.ErrUnknownKey},
		{"version", kek, mutate(IDToken, func(v []byte) []byte { v[3] = 2; return v }), IDToken, ErrMalformed},
		{"tag", kek, mutate(IDToken, func(v []byte) []byte { v[len(v)-1] ^= 1; return v }), IDToken, accountvault.ErrDecrypt},
		{"wrapped", kek, mutate(RefreshToken, func(v []byte) []byte { v[20] ^= 1; return v }), RefreshToken, accountvault.ErrDecrypt},
		{"truncated", kek, mutate(AccessToken, func(v []byte) []byte { return v[:40] }), AccessToken, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opened, err := Open(tt.kek, testPlace, tt.row)
			if !isZero(opened) {
				t.Error("a failed Open returned plaintext")
			}
			want := tt.want
			if want == ErrMalformed {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("error %v does not wrap ErrMalformed", err)
				}
				want = accountvault.ErrDecrypt
			}
			checkColumnError(t, err, tt.col, want, plain[:]...)
		})
	}
}

// errKEK is a KEK whose calls fail or return bad results.
type errKEK struct {
	*testKEK
	wrapErr, unwrapErr error
	wrapped            []byte // returned by Wrap if not nil
	dek                []byte // returned by Unwrap if not nil
}

func (k *errKEK) Wrap(dek, ad []byte) (uint32, []byte, error) {
	if k.wrapErr != nil {
		return 0, nil, k.wrapErr
	}
	if k.wrapped != nil {
		return k.primary, k.wrapped, nil
	}
	return k.testKEK.Wrap(dek, ad)
}

func (k *errKEK) Unwrap(id uint32, wrapped, ad []byte) ([]byte, error) {
	if k.unwrapErr != nil {
		return nil, k.unwrapErr
	}
	if k.dek != nil {
		return k.dek, nil
	}
	return k.testKEK.Unwrap(id, wrapped, ad)
}

func TestKEKFailures(t *testing.T) {
	base := randomTestKEK(t)
	plain := testRow(t)
	sealed, err := Seal(base, testPlace, plain)
	if err != nil {
		t.Fatal(err)
	}
	errKMS := errors.New("kms: unavailable")

	if _, err := Seal(&errKEK{testKEK: base, wrapErr: errKMS}, testPlace, plain); !errors.Is(err, errKMS) {
		t.Errorf("Seal with a failing KEK: %v, want it to wrap the KEK's error", err)
	}
	for _, n := range []int{0, 256} {
		if _, err := Seal(&errKEK{testKEK: base, wrapped: make([]byte, n)}, testPlace, plain); !errors.Is(err, ErrWrappedKeySize) {
			t.Errorf("Seal with a %d-byte wrapped key: %v, want ErrWrappedKeySize", n, err)
		}
	}
	// 255 bytes is the largest wrapped key the format holds.
	k255 := &errKEK{testKEK: base, wrapped: make([]byte, 255)}
	if s, err := Seal(k255, testPlace, plain); err != nil {
		t.Errorf("Seal with a 255-byte wrapped key: %v", err)
	} else if v, err := format.Parse(s[0]); err != nil || len(v.Wrapped) != 255 {
		t.Errorf("255-byte wrapped key: parse %v", err)
	}

	_, err = Open(&errKEK{testKEK: base, unwrapErr: errKMS}, testPlace, sealed)
	var ce *ColumnError
	if !errors.As(err, &ce) || !errors.Is(err, errKMS) {
		t.Errorf("Open with a failing KEK: %v, want a *ColumnError wrapping the KEK's error", err)
	}
	_, err = Open(&errKEK{testKEK: base, dek: make([]byte, 16)}, testPlace, sealed)
	checkColumnError(t, err, AccessToken, accountvault.ErrDecrypt)

	old := base.withPrimary(0x1A2B3C4D)
	onOld, err := Seal(old, testPlace, plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Rewrap(&errKEK{testKEK: base, wrapErr: errKMS}, testPlace, onOld); !errors.Is(err, errKMS) {
		t.Errorf("Rewrap with a failing Wrap: %v", err)
	}
	if _, _, err := Rewrap(&errKEK{testKEK: base, wrapped: make([]byte, 256)}, testPlace, onOld); !errors.Is(err, ErrWrappedKeySize) {
		t.Errorf("Rewrap with a 256-byte wrapped key: %v", err)
	}
	_, _, err = Rewrap(&errKEK{testKEK: base, dek: make([]byte, 31)}, testPlace, onOld)
	checkColumnError(t, err, AccessToken, accountvault.ErrDecrypt)
}

// retainKEK keeps the data keys it sees, against the KEK contract, so that
// the test can check that Seal, Open and Rewrap zero them.
type retainKEK struct {
	*testKEK
	seen [][]byte
}

func (k *retainKEK) Wrap(dek, ad []byte) (uint32, []byte, error) {
	k.seen = append(k.seen, dek)
	return k.testKEK.Wrap(dek, ad)
}

func (k *retainKEK) Unwrap(id uint32, wrapped, ad []byte) ([]byte, error) {
	dek, err := k.testKEK.Unwrap(id, wrapped, ad)
	k.seen = append(k.seen, dek)
	return dek, err
}

func TestDataKeysZeroed(t *testing.T) {
	base := randomTestKEK(t)
	k := &retainKEK{testKEK: base}
	plain := testRow(t)
	sealed, err := Seal(k, testPlace, plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(k, testPlace, sealed); err != nil {
		t.Fatal(err)
	}
	k.testKEK = base.withPrimary(0x1A2B3C4D)
	if _, _, err := Rewrap(k, testPlace, sealed); err != nil {
		t.Fatal(err)
	}
	if len(k.seen) != 4 { // Seal: wrap; Open: unwrap; Rewrap: unwrap, wrap
		t.Fatalf("saw %d data keys, want 4", len(k.seen))
	}
	for i, dek := range k.seen {
		if len(dek) != 32 || !bytes.Equal(dek, make([]byte, 32)) {
			t.Errorf("data key %d (%d bytes) not zeroed after use", i, len(dek))
		}
	}
}

func TestRewrap(t *testing.T) {
	base := randomTestKEK(t)
	const oldID, newID = 0x1A2B3C4D, 0x5E6F7081
	old, cur := base.withPrimary(oldID), base
	plain := testRow(t)
	sealed, err := Seal(old, testPlace, plain)
	if err != nil {
		t.Fatal(err)
	}

	out, changed, err := Rewrap(cur, testPlace, sealed)
	if err != nil || !changed {
		t.Fatalf("Rewrap: changed %v, %v", changed, err)
	}
	if cur.unwraps.Load() != 1 || cur.wraps.Load() != 1 {
		t.Errorf("Rewrap of a one-key row: %d unwraps, %d wraps, want 1, 1", cur.unwraps.Load(), cur.wraps.Load())
	}
	var wrapped []byte
	for c := range out {
		before, _ := format.Parse(sealed[c])
		after, err := format.Parse(out[c])
		if err != nil {
			t.Fatalf("%v: %v", Column(c), err)
		}
		if after.KeyID != newID {
			t.Errorf("%v: key id %#x after rewrap, want %#x", Column(c), after.KeyID, newID)
		}
		if !bytes.Equal(after.Nonce, before.Nonce) || !bytes.Equal(after.Ciphertext, before.Ciphertext) {
			t.Errorf("%v: rewrap changed the token's nonce or ciphertext", Column(c))
		}
		if wrapped == nil {
			wrapped = after.Wrapped
		} else if !bytes.Equal(wrapped, after.Wrapped) {
			t.Errorf("%v: rewrapped row does not share one wrapped key", Column(c))
		}
	}
	opened, err := Open(cur.without(oldID), testPlace, out)
	if err != nil {
		t.Fatalf("open after rewrap, without the old key: %v", err)
	}
	for c := range opened {
		if !bytes.Equal(opened[c], plain[c]) {
			t.Errorf("%v: wrong plaintext after rewrap", Column(c))
		}
	}

	// Rewrapping again changes nothing and calls no KEK.
	again, changed, err := Rewrap(cur, testPlace, out)
	if err != nil || changed {
		t.Fatalf("second Rewrap: changed %v, %v", changed, err)
	}
	for c := range again {
		if &again[c][0] != &out[c][0] {
			t.Errorf("%v: unchanged field not returned as is", Column(c))
		}
	}
	if cur.unwraps.Load() != 1 {
		t.Error("Rewrap of a row on the primary key unwrapped")
	}

	// A row mixing keys: only the stale field moves.
	mixed := Fields{out[0], sealed[1], nil}
	m, changed, err := Rewrap(cur, testPlace, mixed)
	if err != nil || !changed {
		t.Fatalf("mixed Rewrap: changed %v, %v", changed, err)
	}
	if &m[0][0] != &out[0][0] || m[2] != nil {
		t.Error("mixed Rewrap touched a field on the primary key or an empty one")
	}
	if id, _ := KeyID(m[1]); id != newID {
		t.Errorf("mixed Rewrap left refresh_token on %#x", id)
	}
	if o, err := Open(cur, testPlace, m); err != nil || !bytes.Equal(o[1], plain[1]) {
		t.Errorf("open after mixed rewrap: %v", err)
	}
}

func TestRewrapErrors(t *testing.T) {
	base := randomTestKEK(t)
	old := base.withPrimary(0x1A2B3C4D)
	plain := testRow(t)
	sealed, err := Seal(old, testPlace, plain)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Rewrap(base, Place{Table: "accounts", UserID: "someone else", ProviderID: testPlace.ProviderID, AccountID: testPlace.AccountID}, sealed)
	checkColumnError(t, err, AccessToken, accountvault.ErrDecrypt, plain[:]...)
	_, _, err = Rewrap(base.without(0x1A2B3C4D), testPlace, sealed)
	checkColumnError(t, err, AccessToken, accountvault.ErrUnknownKey, plain[:]...)
	_, _, err = Rewrap(base, testPlace, Fields{sealed[0], []byte("legacy-token"), sealed[2]})
	checkColumnError(t, err, RefreshToken, accountvault.ErrLegacyPlaintext, plain[:]...)
	trunc := Fields{sealed[0], sealed[1], sealed[2][:30]}
	_, _, err = Rewrap(base, testPlace, trunc)
	checkColumnError(t, err, IDToken, accountvault.ErrDecrypt, plain[:]...)

	// Rewrap never decrypts a token: a tampered ciphertext is carried over
	// and still fails to open.
	tampered := sealed
	tampered[2] = bytes.Clone(sealed[2])
	tampered[2][len(tampered[2])-20] ^= 1
	out, changed, err := Rewrap(base, testPlace, tampered)
	if err != nil || !changed {
		t.Fatalf("Rewrap of a tampered token: changed %v, %v", changed, err)
	}
	_, err = Open(base, testPlace, out)
	checkColumnError(t, err, IDToken, accountvault.ErrDecrypt, plain[:]...)
}

func TestKeyIDIsSealed(t *testing.T) {
	kek := randomTestKEK(t)
	sealed, err := Seal(kek, testPlace, Fields{[]byte("token")})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := KeyID(sealed[0]); err != nil || id != kek.PrimaryID() {
		t.Errorf("KeyID = %#x, %v", id, err)
	}
	if !IsSealed(sealed[0]) {
		t.Error("IsSealed(sealed) = false")
	}
	for _, v := range [][]byte{nil, {}, []byte("ya29.token"), []byte("eyJhbGciOi"), {0xC3, 0xA9}, {0x27, 'a', 'v', 1}} {
		if IsSealed(v) {
			t.Errorf("IsSealed(%d bytes) = true", len(v))
		}
		if _, err := KeyID(v); err != accountvault.ErrLegacyPlaintext {
			t.Errorf("KeyID(%d-byte legacy value) = %v", len(v), err)
		}
	}
	for _, v := range [][]byte{{0xA7}, {0xA7, 'a', 'v', 1}, {0xA7, 'x', 'v', 1, 0, 0, 0, 0, 1}, sealed[0][:len(sealed[0])-17]} {
		if !IsSealed(v) {
			t.Errorf("IsSealed(%d bytes from 0xA7) = false", len(v))
		}
		if _, err := KeyID(v); !errors.Is(err, ErrMalformed) || !errors.Is(err, accountvault.ErrDecrypt) {
			t.Errorf("KeyID(malformed %d bytes) = %v", len(v), err)
		}
	}
}

func TestColumnString(t *testing.T) {
	for c, want := range []string{"access_token", "refresh_token", "id_token", "Column(3)"} {
		if got := Column(c).String(); got != want {
			t.Errorf("Column(%d).String() = %q, want %q", c, got, want)
		}
	}
}

func TestText(t *testing.T) {
	kek := randomTestKEK(t)
	sealed, err := Seal(kek, testPlace, testRow(t))
	if err != nil {
		t.Fatal(err)
	}
	for c, v := range sealed {
		s := EncodeText(v)
		if !strings.HasPrefix(s, "av1:p2F2A") {
			t.Errorf("%v: text form does not start with av1:p2F2A", Column(c))
		}
		got, err := DecodeText(s)
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("%v: DecodeText(EncodeText(v)) = %d bytes, %v", Column(c), len(got), err)
		}
	}
	max := EncodeText(make([]byte, MaxSealedSize))
	if _, err := DecodeText(max); err != nil {
		t.Errorf("DecodeText of the longest value: %v", err)
	}
	for _, s := range []string{
		"", "av1", "AV1:AA", "av2:AA", " av1:AA", "av1:AA ", "av1:A\nA", "av1:AA\r\n", "av1:AA==", "av1:+w", "av1:/w",
		"av1:qh", "av1:AAAAA", "av1:A", max + "AA",
	} {
		if _, err := DecodeText(s); !errors.Is(err, ErrMalformed) || !errors.Is(err, accountvault.ErrDecrypt) {
			t.Errorf("DecodeText(%q) = %v, want ErrMalformed", s, err)
		}
	}
}

func TestConcurrent(t *testing.T) {
	kek := randomTestKEK(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				plain := testRow(t)
				sealed, err := Seal(kek, testPlace, plain)
				if err != nil {
					t.Error(err)
					return
				}
				opened, err := Open(kek, testPlace, sealed)
				if err != nil {
					t.Error(err)
					return
				}
				for c := range opened {
					if !bytes.Equal(opened[c], plain[c]) {
						t.Errorf("%v: wrong plaintext", Column(c))
					}
				}
			}
		})
	}
	wg.Wait()
}
