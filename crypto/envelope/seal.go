package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope/internal/format"
)

// Limits of the format.
const (
	// MaxPlaintext is the largest token Seal accepts, in bytes.
	MaxPlaintext = format.MaxPlaintext

	// MaxSealedSize is the largest well-formed sealed value, in bytes.
	// Open refuses longer values without looking further. It is below
	// accountvault.MaxTokenSize, so every sealed value fits a token column.
	MaxSealedSize = format.MaxSize
)

// A compile-time check that a sealed value always fits a token column.
const _ = uint(accountvault.MaxTokenSize - MaxSealedSize)

// Seal seals the non-empty fields of one row for place p.
//
// It draws a fresh random 256-bit data key (DEK), wraps it once with kek's
// primary key, binding p, and seals each non-empty field with AES-256-GCM
// under the DEK with a fresh random 96-bit nonce, binding p and the field's
// column. Every sealed field of the result carries the same wrapped DEK.
// Empty fields stay nil; if every field is empty, Seal neither draws a key
// nor calls kek.
//
// A field longer than [MaxPlaintext] gives a *[ColumnError] wrapping
// [ErrTooLarge], before any work. Seal neither modifies nor retains plain.
// The sealed fields share one backing array; each has its capacity equal
// to its length. The DEK is zeroed before Seal returns.
func Seal(kek KEK, p Place, plain Fields) (Fields, error) {
	return seal(rand.Reader, kek, p, plain)
}

// seal is Seal reading the DEK, then one nonce per non-empty field in
// column order, from rnd. Only tests pass anything but crypto/rand.Reader.
func seal(rnd io.Reader, kek KEK, p Place, plain Fields) (Fields, error) {
	n := 0
	for c, v := range plain {
		if len(v) > MaxPlaintext {
			return Fields{}, &ColumnError{Column(c), ErrTooLarge}
		}
		if len(v) > 0 {
			n++
		}
	}
	if n == 0 {
		return Fields{}, nil
	}

	// One allocation for the key, the nonces and the associated data.
	randSize := format.DEKSize + n*format.NonceSize
	buf := make([]byte, randSize+format.RowADSize(p.Table, p.ProviderID, p.AccountID, p.UserID))
	dek, nonces := buf[:format.DEKSize], buf[format.DEKSize:randSize]
	defer clear(dek)
	if _, err := io.ReadFull(rnd, buf[:randSize]); err != nil {
		return Fields{}, fmt.Errorf("envelope: reading randomness: %w", err)
	}
	ad := format.NewRowAD(buf[randSize:], p.Table, p.ProviderID, p.AccountID, p.UserID)

	keyID, wrapped, err := kek.Wrap(dek, ad.DEK())
	if err != nil {
		return Fields{}, fmt.Errorf("envelope: wrapping the data key: %w", err)
	}
	if len(wrapped) == 0 || len(wrapped) > format.MaxWrappedSize {
		return Fields{}, ErrWrappedKeySize
	}
	aead, err := newAEAD(dek)
	if err != nil {
		return Fields{}, err
	}

	header := format.HeaderSize(len(wrapped))
	total := 0
	for _, v := range plain {
		if len(v) > 0 {
			total += header + len(v) + format.TagSize
		}
	}
	out := make([]byte, total)
	var sealed Fields
	for c, v := range plain {
		if len(v) == 0 {
			continue
		}
		size := header + len(v) + format.TagSize
		b := format.AppendHeader(out[:0:size], keyID, wrapped)
		nonce := nonces[:format.NonceSize]
		nonces = nonces[format.NonceSize:]
		b = append(b, nonce...)
		sealed[c] = aead.Seal(b, nonce, v, ad.Field(c))
		out = out[size:]
	}
	return sealed, nil
}

// newAEAD returns AES-256-GCM keyed with dek. The caller may zero dek
// afterwards: the cipher holds its own key schedule.
func newAEAD(dek []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(dek)
	if err != nil {
		return nil, fmt.Errorf("envelope: data key cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: data key cipher: %w", err)
	}
	return aead, nil
}
