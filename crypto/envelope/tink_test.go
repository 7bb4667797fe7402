package envelope

import (
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/aead/xaesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/secretdata"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// tinkKEK returns a Tink AES-256-GCM AEAD with the TINK output prefix for
// key id, as a keyring key made before XAES-256-GCM is.
func tinkKEK(t *testing.T, id uint32, key []byte) tink.AEAD {
	t.Helper()
	params, err := aesgcm.NewParameters(aesgcm.ParametersOpts{
		KeySizeInBytes: 32, IVSizeInBytes: 12, TagSizeInBytes: 16, Variant: aesgcm.VariantTink,
	})
	if err != nil {
		t.Fatal(err)
	}
	k, err := aesgcm.NewKey(secretdata.NewBytesFromData(key, insecuresecretdataaccess.Token{}), id, params)
	if err != nil {
		t.Fatal(err)
	}
	a, err := aesgcm.NewAEAD(k)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tinkXAESKEK returns Tink's XAES-256-GCM AEAD with a 12-byte salt and the
// TINK output prefix for key id, as a keyring key is: the key of
// aead.XAES256GCM192BitNonceKeyTemplate, in a keyset of its own (tink-go
// exports no other way to build its primitive).
func tinkXAESKEK(t *testing.T, id uint32, key []byte) tink.AEAD {
	t.Helper()
	params, err := xaesgcm.NewParameters(xaesgcm.VariantTink, 12)
	if err != nil {
		t.Fatal(err)
	}
	k, err := xaesgcm.NewKey(secretdata.NewBytesFromData(key, insecuresecretdataaccess.Token{}), id, params)
	if err != nil {
		t.Fatal(err)
	}
	m := keyset.NewManager()
	if _, err := m.AddKey(k); err != nil {
		t.Fatal(err)
	}
	if err := m.SetPrimary(id); err != nil {
		t.Fatal(err)
	}
	h, err := m.Handle()
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
