package envelope_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"log"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
)

// memKEK is a KEK held in memory: one AES-256-GCM key with id 7. A keyring
// (package keyring), a KMS or an HSM plays this part in production.
type memKEK struct{ aead cipher.AEAD }

func newMemKEK() *memKEK {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		log.Fatal(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		log.Fatal(err)
	}
	return &memKEK{a}
}

func (k *memKEK) PrimaryID() uint32 { return 7 }

func (k *memKEK) Wrap(dek, ad []byte) (uint32, []byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return 0, nil, err
	}
	return 7, k.aead.Seal(nonce, nonce, dek, ad), nil
}

func (k *memKEK) Unwrap(id uint32, wrapped, ad []byte) ([]byte, error) {
	if id != 7 {
		return nil, accountvault.ErrUnknownKey
	}
	if len(wrapped) < k.aead.NonceSize() {
		return nil, accountvault.ErrDecrypt
	}
	dek, err := k.aead.Open(nil, wrapped[:k.aead.NonceSize()], wrapped[k.aead.NonceSize():], ad)
	if err != nil {
		return nil, accountvault.ErrDecrypt
	}
	return dek, nil
}

// Example seals one row's tokens under a fresh data key wrapped by an
// in-memory KEK, opens them, and shows that a value moved to another row
// fails to open.
func Example() {
	kek := newMemKEK()
	place := envelope.Place{Table: "accounts", UserID: "user_1", ProviderID: "github", AccountID: "12345"}
	var plain envelope.Fields
	plain[envelope.AccessToken] = []byte("gho_example")
	plain[envelope.RefreshToken] = []byte("ghr_example")

	sealed, err := envelope.Seal(kek, place, plain)
	if err != nil {
		log.Fatal(err)
	}
	id, err := envelope.KeyID(sealed[envelope.AccessToken])
	fmt.Println(envelope.IsSealed(sealed[envelope.AccessToken]), id, err)

	opened, err := envelope.Open(kek, place, sealed)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s %q\n", opened[envelope.AccessToken], opened[envelope.RefreshToken], opened[envelope.IDToken])

	// The same sealed values in another user's row do not open.
	other := place
	other.UserID = "user_2"
	_, err = envelope.Open(kek, other, sealed)
	fmt.Println(errors.Is(err, accountvault.ErrDecrypt))
	// Output:
	// true 7 <nil>
	// gho_example ghr_example ""
	// true
}
