package envelope

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"testing"
)

// refXAES is XAES-256-GCM written from its specification,
// https://c2sp.org/XAES-256-GCM ("Detailed key derivation algorithm"), on
// crypto/aes and crypto/cipher, as a cipher.AEAD with a 24-byte nonce. It is
// the reference the test vectors are made with, independent of tink-go.
type refXAES struct {
	block cipher.Block // AES-256 under the input key K
	k1    [aes.BlockSize]byte
}

func newRefXAES(key []byte) *refXAES {
	block, err := aes.NewCipher(key)
	if err != nil || len(key) != 32 {
		panic("refXAES: the key must be 32 bytes")
	}
	x := &refXAES{block: block}
	// Steps 1 and 2: L = AES-256_K(0^128); K1 = L << 1, xor 0x87 if
	// MSB(L) = 1.
	var l [aes.BlockSize]byte
	block.Encrypt(l[:], l[:])
	for i := range l {
		x.k1[i] = l[i] << 1
		if i+1 < len(l) {
			x.k1[i] |= l[i+1] >> 7
		}
	}
	if l[0]&0x80 != 0 {
		x.k1[aes.BlockSize-1] ^= 0x87
	}
	return x
}

// derive returns the AES-256-GCM of the derived key Kx and the GCM nonce Nx
// for the 24-byte nonce n (steps 3 to 6).
func (x *refXAES) derive(n []byte) (cipher.AEAD, []byte) {
	if len(n) != 24 {
		panic("refXAES: the nonce must be 24 bytes")
	}
	var kx [32]byte
	for i := range 2 {
		// M_i = 0x00 || i || "X" || 0x00 || N[:12]; Kx = AES_K(M1 ^ K1) || AES_K(M2 ^ K1).
		m := [aes.BlockSize]byte{0x00, byte(i + 1), 'X', 0x00}
		copy(m[4:], n[:12])
		for j := range m {
			m[j] ^= x.k1[j]
		}
		x.block.Encrypt(kx[16*i:16*(i+1)], m[:])
	}
	return refGCM(kx[:]), n[12:]
}

func (x *refXAES) NonceSize() int { return 24 }
func (x *refXAES) Overhead() int  { return 16 }

func (x *refXAES) Seal(dst, nonce, plaintext, ad []byte) []byte {
	g, n := x.derive(nonce)
	return g.Seal(dst, n, plaintext, ad)
}

func (x *refXAES) Open(dst, nonce, ciphertext, ad []byte) ([]byte, error) {
	g, n := x.derive(nonce)
	return g.Open(dst, n, ciphertext, ad)
}

// TestRefXAESSpecVectors checks the reference against the specification's
// test vectors, its intermediate values included.
func TestRefXAESSpecVectors(t *testing.T) {
	for _, v := range []struct{ key, k1, kx, ad, ct string }{
		{
			key: "0101010101010101010101010101010101010101010101010101010101010101",
			k1:  "e531954aca063d5b8d9c47a47d4cc6f0",
			kx:  "c8612c9ed53fe43e8e005b828a1631a0bbcb6ab2f46514ec4f439fcfd0fa969b",
			ct:  "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271",
		},
		{
			key: "0303030303030303030303030303030303030303030303030303030303030303",
			k1:  "23810ec50edb99f374409466ed1f4b7b",
			kx:  "e9c621d4cdd9b11b00a6427ad7e559aeedd66b3857646677748f8ca796cb3fd8",
			ad:  "c2sp.org/XAES-256-GCM",
			ct:  "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d",
		},
	} {
		x := newRefXAES(mustUnhex(v.key))
		if got := hex.EncodeToString(x.k1[:]); got != v.k1 {
			t.Errorf("K1 = %s, want %s", got, v.k1)
		}
		nonce := []byte("ABCDEFGHIJKLMNOPQRSTUVWX")
		g, nx := x.derive(nonce)
		if want := refGCM(mustUnhex(v.kx)).Seal(nil, nx, []byte("probe"), nil); !bytes.Equal(g.Seal(nil, nx, []byte("probe"), nil), want) {
			t.Errorf("Kx differs from %s", v.kx)
		}
		if string(nx) != "MNOPQRSTUVWX" {
			t.Errorf("Nx = %q", nx)
		}
		ct := x.Seal(nil, nonce, []byte("XAES-256-GCM"), []byte(v.ad))
		if got := hex.EncodeToString(ct); got != v.ct {
			t.Errorf("ciphertext = %s, want %s", got, v.ct)
		}
		if pt, err := x.Open(nil, nonce, ct, []byte(v.ad)); err != nil || string(pt) != "XAES-256-GCM" {
			t.Errorf("Open = %q, %v", pt, err)
		}
		ct[0] ^= 1
		if _, err := x.Open(nil, nonce, ct, []byte(v.ad)); err == nil {
			t.Error("Open of a modified ciphertext succeeded")
		}
	}
}
