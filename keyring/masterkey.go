package keyring

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/secretdata"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// EnvMasterKey is the environment variable that [MasterKeyFromEnv] reads by
// default.
const EnvMasterKey = "ACCOUNTVAULT_MASTER_KEY"

// MasterKeySize is the size in bytes of a local master key.
const MasterKeySize = 32

// MasterKeyFromEnv returns the master key held in the environment variable
// name ([EnvMasterKey] if name is empty), parsed by [ParseMasterKey]. An
// unset or empty variable gives [ErrNoMasterKey]. Errors never include the
// variable's value.
//
// The environment is the simplest place for a master key and the weakest:
// it is inherited by child processes and readable in /proc by the same
// user. Prefer a KMS where one is available; see the package documentation.
// Go strings cannot be cleared: the value stays in the environment and in
// memory; unset the variable after loading if nothing else needs it.
func MasterKeyFromEnv(name string) (tink.AEAD, error) {
	if name == "" {
		name = EnvMasterKey
	}
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return nil, fmt.Errorf("%w: environment variable %s is not set", ErrNoMasterKey, name)
	}
	a, err := ParseMasterKey(v)
	if err != nil {
		return nil, fmt.Errorf("environment variable %s: %w", name, err)
	}
	return a, nil
}

// ParseMasterKey returns the AES-256-GCM AEAD of a local master key: s must
// be the standard, padded base64 encoding (RFC 4648 section 4, no
// whitespace) of exactly [MasterKeySize] bytes, as [NewMasterKey] makes.
// Anything else gives [ErrInvalidMasterKey]; errors never include s.
//
// The AEAD is Tink's AES-GCM with a 32-byte key, a 12-byte IV and a 16-byte
// tag, without output prefix: Encrypt(pt, ad) returns
// nonce (12 random bytes) || AES-256-GCM(key, nonce, pt, ad) with the tag
// appended. Any AES-GCM implementation (such as Go's crypto/cipher.NewGCM)
// reproduces it with the decoded 32 bytes as key.
func ParseMasterKey(s string) (tink.AEAD, error) {
	enc := base64.StdEncoding.Strict()
	if len(s) != enc.EncodedLen(MasterKeySize) {
		return nil, fmt.Errorf("%w: want %d characters of base64 (%d bytes), got %d characters", ErrInvalidMasterKey, enc.EncodedLen(MasterKeySize), MasterKeySize, len(s))
	}
	b64 := []byte(s)
	defer clear(b64)
	raw := make([]byte, enc.DecodedLen(len(b64)))
	defer clear(raw)
	n, err := enc.Decode(raw, b64)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard padded base64", ErrInvalidMasterKey)
	}
	if n != MasterKeySize {
		return nil, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrInvalidMasterKey, n, MasterKeySize)
	}
	params, err := aesgcm.NewParameters(aesgcm.ParametersOpts{
		KeySizeInBytes: MasterKeySize,
		IVSizeInBytes:  12,
		TagSizeInBytes: 16,
		Variant:        aesgcm.VariantNoPrefix,
	})
	if err != nil {
		return nil, fmt.Errorf("keyring: master key parameters: %w", err)
	}
	key, err := aesgcm.NewKey(secretdata.NewBytesFromData(raw[:n], insecuresecretdataaccess.Token{}), 0, params)
	if err != nil {
		return nil, fmt.Errorf("keyring: master key: %w", err)
	}
	a, err := aesgcm.NewAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("keyring: master key: %w", err)
	}
	return a, nil
}

// NewMasterKey returns a new local master key: the standard, padded base64
// encoding of [MasterKeySize] random bytes, for [ParseMasterKey] and
// [MasterKeyFromEnv]. Store it in a secret manager; losing it loses every
// token the keyring protects. It is a secret: never log it.
func NewMasterKey() (string, error) {
	raw := make([]byte, MasterKeySize)
	defer clear(raw)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("keyring: generate master key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}
