package envelope

import (
	"crypto/rand"
	"testing"

	"github.com/accountvault/accountvault/crypto/envelope/internal/format"
)

// BenchmarkRow seals and opens one row of three 1 KiB tokens, three ways:
//
//   - impl=floor: AES-256-GCM used directly through crypto/cipher, the way
//     an application sealing each token under one static key would: a
//     cipher built once, a fresh random nonce per seal, Seal and Open
//     allocating their results, the same plaintext and associated data
//     sizes as the envelope.
//   - impl=envelope: Seal then Open with an in-test AES-256-GCM KEK: a fresh
//     data key per row, its cipher built in Seal and again in Open, one
//     wrap and one unwrap, random nonces, allocated results.
//   - impl=bare: the AEAD work alone, the lower bound of both: a fixed
//     nonce and reused buffers, no allocation.
//
// Compare with
//
//	go test -run '^$' -bench BenchmarkRow -benchmem -count 10 . > bench.txt
//	benchstat -col /impl bench.txt
func BenchmarkRow(b *testing.B) {
	p := Place{Table: "accounts", UserID: "user_2f9a61c0", ProviderID: "google", AccountID: "110248495921238986420"}
	var plain Fields
	for c := range plain {
		plain[c] = randomBytes(b, 1024)
	}
	rowAD := format.NewRowAD(make([]byte, 0, format.RowADSize(p.Table, p.ProviderID, p.AccountID, p.UserID)),
		p.Table, p.ProviderID, p.AccountID, p.UserID)
	var ads [NumColumns][]byte
	for c := range ads {
		ads[c] = append([]byte(nil), rowAD.Field(c)...)
	}

	b.Run("impl=floor", func(b *testing.B) {
		aead, err := newAEAD(randomBytes(b, 32))
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(3 * 1024)
		b.ReportAllocs()
		for b.Loop() {
			for c := range plain {
				nonce := make([]byte, 12, 12+len(plain[c])+16)
				if _, err := rand.Read(nonce); err != nil {
					b.Fatal(err)
				}
				sealed := aead.Seal(nonce, nonce, plain[c], ads[c])
				if _, err := aead.Open(nil, sealed[:12], sealed[12:], ads[c]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})

	b.Run("impl=envelope", func(b *testing.B) {
		kek := randomTestKEK(b)
		b.SetBytes(3 * 1024)
		b.ReportAllocs()
		for b.Loop() {
			sealed, err := Seal(kek, p, plain)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Open(kek, p, sealed); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("impl=bare", func(b *testing.B) {
		aead, err := newAEAD(randomBytes(b, 32))
		if err != nil {
			b.Fatal(err)
		}
		nonce := make([]byte, 12)
		var sealed, opened Fields
		for c := range sealed {
			sealed[c] = make([]byte, 0, len(plain[c])+16)
			opened[c] = make([]byte, 0, len(plain[c]))
		}
		b.SetBytes(3 * 1024)
		b.ReportAllocs()
		for b.Loop() {
			for c := range plain {
				sealed[c] = aead.Seal(sealed[c][:0], nonce, plain[c], ads[c])
				if opened[c], err = aead.Open(opened[c][:0], nonce, sealed[c], ads[c]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkRewrap moves one row of three 1 KiB tokens to a new primary key.
func BenchmarkRewrap(b *testing.B) {
	p := Place{Table: "accounts", UserID: "user_2f9a61c0", ProviderID: "google", AccountID: "110248495921238986420"}
	var plain Fields
	for c := range plain {
		plain[c] = randomBytes(b, 1024)
	}
	old := randomTestKEK(b)
	sealed, err := Seal(old.withPrimary(0x1A2B3C4D), p, plain)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(3 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, changed, err := Rewrap(old, p, sealed); err != nil || !changed {
			b.Fatal(changed, err)
		}
	}
}
