package envelope

import (
	"crypto/rand"
	"testing"

	"github.com/accountvault/accountvault/crypto/envelope/internal/format"
)

// BenchmarkRow seals and opens one row of three 1 KiB tokens:
//
//   - impl=floor: AES-256-GCM used directly through crypto/cipher, the way
//     an application sealing each token under one static key would: a
//     cipher built once, a fresh random nonce per seal, Seal and Open
//     allocating their results, the same plaintext and associated data
//     sizes as the envelope.
//   - impl=envelope: Seal then Open: a fresh data key per row, its cipher
//     built in Seal and again in Open, one wrap and one unwrap, random
//     nonces, allocated results; with four KEKs:
//   - kek=AES-256-GCM: a keyring KEK whose primary is an AES-256-GCM key,
//     as in keyrings made before XAES-256-GCM (Tink's AES-GCM primitive);
//   - kek=XAES-256-GCM: a keyring KEK of a new keyring (Tink's XAES-256-GCM
//     primitive);
//   - kek=stdlib-AES-256-GCM and kek=stdlib-XAES-256-GCM: the in-test KEK,
//     the same algorithms written on crypto/aes and crypto/cipher alone
//     (XAES-256-GCM from its specification, with the CMAC subkey computed
//     once per key), to tell the cost of the algorithm from tink-go's.
//   - impl=bare: the AEAD work alone, the lower bound of all: a fixed
//     nonce and reused buffers, no allocation.
//
// The impl=envelope cases also report cpu-ns/op on Linux: the process's CPU
// time per row (getrusage), the garbage collector's background work
// included, which a busy machine disturbs less than wall time.
//
// Compare with
//
//	go test -run '^$' -bench BenchmarkRow -benchmem -count 10 . > bench.txt
//	benchstat -filter /impl:envelope -col /kek bench.txt
//	benchstat -filter '/kek:none' -col /impl bench.txt
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
	keks := []struct {
		name string
		kek  KEK
	}{
		{"AES-256-GCM", legacyKeyringKEK(b)},
		{"XAES-256-GCM", newKeyringKEK(b)},
		{"stdlib-AES-256-GCM", randomTestKEK(b)},
		{"stdlib-XAES-256-GCM", randomTestKEK(b).withXAES(0x6A7B8C9D, randomBytes(b, 32)).withPrimary(0x6A7B8C9D)},
	}

	b.Run("impl=floor/kek=none", func(b *testing.B) {
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

	for _, k := range keks {
		b.Run("impl=envelope/kek="+k.name, func(b *testing.B) {
			b.SetBytes(3 * 1024)
			b.ReportAllocs()
			start, cpuOK := processCPUTime()
			for b.Loop() {
				sealed, err := Seal(k.kek, p, plain)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Open(k.kek, p, sealed); err != nil {
					b.Fatal(err)
				}
			}
			if end, ok := processCPUTime(); ok && cpuOK {
				b.ReportMetric(float64((end-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
		})
	}

	b.Run("impl=bare/kek=none", func(b *testing.B) {
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

// BenchmarkNewAEAD builds AES-256-GCM from a 32-byte key: the key schedule
// and GCM set-up the envelope does twice per row for the data key (in Seal
// and in Open), and that XAES-256-GCM does once per message for its derived
// key, so once per wrap and once per unwrap under an XAES-256-GCM KEK.
func BenchmarkNewAEAD(b *testing.B) {
	key := randomBytes(b, 32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := newAEAD(key); err != nil {
			b.Fatal(err)
		}
	}
}
