package envelope

// KEK wraps and unwraps data keys under key-encryption keys identified by a
// uint32 id. Package keyring implements it with a Tink keyset; a KMS or an
// HSM can implement it too. Every method must be safe for concurrent use.
//
// Wrap and Unwrap must authenticate ad (an AEAD's associated data) and must
// not retain or modify dek, wrapped or ad after they return.
type KEK interface {
	// Wrap encrypts dek under the primary key-encryption key, binding ad.
	// It returns that key's id and the wrapped key, which must hold 1 to
	// 255 bytes. The keyring's keys give 24 + 32 + 16 = 72 bytes
	// (XAES-256-GCM) or 12 + 32 + 16 = 60 (AES-256-GCM, in keyrings made
	// before XAES-256-GCM); a KEK may mix lengths, key by key.
	Wrap(dek, ad []byte) (keyID uint32, wrapped []byte, err error)

	// Unwrap decrypts wrapped under the key keyID, checking ad. The error
	// wraps accountvault.ErrUnknownKey if keyID is unknown or disabled, and
	// accountvault.ErrDecrypt if wrapped or ad fail to authenticate. The
	// caller zeroes the returned key after use.
	Unwrap(keyID uint32, wrapped, ad []byte) (dek []byte, err error)

	// PrimaryID returns the id of the key Wrap uses.
	PrimaryID() uint32
}
