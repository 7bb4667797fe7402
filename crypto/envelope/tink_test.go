package envelope

import (
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/secretdata"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// tinkKEK returns a Tink AES-256-GCM AEAD with the TINK output prefix for
// key id, as a keyring key is.
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
