package keyring

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"

	"github.com/accountvault/accountvault"
)

var (
	testDEK = []byte("0123456789abcdef0123456789abcdef")
	testAD  = []byte("v1|accounts|access_token|github|12345|user-1")
)

func TestWrapUnwrap(t *testing.T) {
	forEachAlgorithm(t, func(t *testing.T, alg Algorithm, generate func(testing.TB) *Keyring) {
		k := generate(t)
		s := mustKEK(t, k)
		if got, ok := s.Algorithm(k.Primary()); !ok || got != alg {
			t.Fatalf("primary key is %v (%t), want %v", got, ok, alg)
		}
		id, w, err := s.Wrap(testDEK, testAD)
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		if id != k.Primary() || id != s.PrimaryID() {
			t.Fatalf("Wrap used key %d, primary is %d", id, k.Primary())
		}
		if len(w) != len(testDEK)+alg.WrapOverhead() {
			t.Fatalf("wrapped length %d, want %d", len(w), len(testDEK)+alg.WrapOverhead())
		}
		got, err := s.Unwrap(id, w, testAD)
		if err != nil || !bytes.Equal(got, testDEK) {
			t.Fatalf("Unwrap: err %v, equal %t", err, bytes.Equal(got, testDEK))
		}
		// Two wraps differ (random nonce).
		_, w2, err := s.Wrap(testDEK, testAD)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(w, w2) {
			t.Fatalf("two wraps of the same key are identical")
		}
		// Empty DEK and empty AD work.
		id, w, err = s.Wrap(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(w) != alg.WrapOverhead() {
			t.Fatalf("wrapped empty key is %d bytes, want %d", len(w), alg.WrapOverhead())
		}
		if got, err := s.Unwrap(id, w, nil); err != nil || len(got) != 0 {
			t.Fatalf("Unwrap(empty): %v, %d bytes", err, len(got))
		}
	})
}

// TestWrapIsTinkCiphertext checks the documented layout: the TINK prefix
// followed by the wrapped key is a ciphertext of Tink's own keyset
// primitive, so any Tink implementation can unwrap, for a keyring holding
// keys of both algorithms, whichever is primary.
func TestWrapIsTinkCiphertext(t *testing.T) {
	forEachAlgorithm(t, func(t *testing.T, alg Algorithm, generate func(testing.TB) *Keyring) {
		k := generate(t)
		first := k.Primary()
		// The other algorithm, staged, then primary: Tink's keyset
		// primitive must open what each key wraps.
		var second uint32
		if alg == XAES256GCM {
			second = stageAESGCM(t, k)
		} else {
			second = mustStage(t, k)
		}
		for _, primary := range []uint32{first, second} {
			if err := k.Promote(primary); err != nil {
				t.Fatal(err)
			}
			s := mustKEK(t, k)
			id, w, err := s.Wrap(testDEK, testAD)
			if err != nil || id != primary {
				t.Fatalf("Wrap: key %d, %v; want key %d", id, err, primary)
			}
			p, err := aead.New(k.handle)
			if err != nil {
				t.Fatal(err)
			}
			ct := binary.BigEndian.AppendUint32([]byte{0x01}, id)
			ct = append(ct, w...)
			got, err := p.Decrypt(ct, testAD)
			if err != nil || !bytes.Equal(got, testDEK) {
				t.Fatalf("Tink keyset primitive, key %d: err %v, equal %t", id, err, bytes.Equal(got, testDEK))
			}
			// And the other way.
			ct, err = p.Encrypt(testDEK, testAD)
			if err != nil {
				t.Fatal(err)
			}
			if binary.BigEndian.Uint32(ct[1:5]) != primary {
				t.Fatalf("Tink encrypted with key %d, want %d", binary.BigEndian.Uint32(ct[1:5]), primary)
			}
			got, err = s.Unwrap(binary.BigEndian.Uint32(ct[1:5]), ct[5:], testAD)
			if err != nil || !bytes.Equal(got, testDEK) {
				t.Fatalf("Unwrap of a Tink ciphertext, key %d: err %v, equal %t", primary, err, bytes.Equal(got, testDEK))
			}
		}
	})
}

func TestUnwrapFailures(t *testing.T) {
	forEachAlgorithm(t, func(t *testing.T, alg Algorithm, generate func(testing.TB) *Keyring) {
		k := generate(t)
		s := mustKEK(t, k)
		id, w, err := s.Wrap(testDEK, testAD)
		if err != nil {
			t.Fatal(err)
		}

		_, err = s.Unwrap(id, w, []byte("v1|accounts|access_token|github|12345|user-2"))
		wantErr(t, "Unwrap with other AD", err, accountvault.ErrDecrypt)
		_, err = s.Unwrap(id, w, nil)
		wantErr(t, "Unwrap without AD", err, accountvault.ErrDecrypt)

		for i := range w {
			bad := slices.Clone(w)
			bad[i] ^= 0x01
			_, err := s.Unwrap(id, bad, testAD)
			wantErr(t, fmt.Sprintf("Unwrap with byte %d flipped", i), err, accountvault.ErrDecrypt)
		}
		overhead := alg.WrapOverhead()
		for _, n := range []int{0, 1, AESGCMWrapOverhead - 1, AESGCMWrapOverhead, overhead - 1, overhead, len(w) - 1} {
			_, err := s.Unwrap(id, w[:n], testAD)
			wantErr(t, fmt.Sprintf("Unwrap truncated to %d", n), err, accountvault.ErrDecrypt)
		}
		_, err = s.Unwrap(id, append(slices.Clone(w), 0), testAD)
		wantErr(t, "Unwrap with a byte appended", err, accountvault.ErrDecrypt)
		_, err = s.Unwrap(id, make([]byte, overhead+MaxDEKSize+1), testAD)
		wantErr(t, "Unwrap oversized", err, accountvault.ErrDecrypt)

		_, err = s.Unwrap(id+1, w, testAD)
		wantErr(t, "Unwrap with unknown key id", err, accountvault.ErrUnknownKey)

		// No error shows the wrapped key, in any common encoding.
		_, errAD := s.Unwrap(id, w, nil)
		for _, e := range []error{err, errAD} {
			msg := e.Error()
			for _, enc := range []string{string(w), fmt.Sprintf("%x", w), fmt.Sprintf("%X", w), b64(w), fmt.Sprint(w)} {
				if strings.Contains(msg, enc) {
					t.Fatalf("error %q contains the wrapped key", msg)
				}
			}
		}

		// A key of another keyring with the same id would be ErrDecrypt; a key
		// id the keyring never had is ErrUnknownKey even with valid bytes.
		other := mustKEK(t, generate(t))
		oid, ow, err := other.Wrap(testDEK, testAD)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Unwrap(oid, ow, testAD)
		wantErr(t, "Unwrap of another keyring's value", err, accountvault.ErrUnknownKey)
	})
}

func TestWrapLimits(t *testing.T) {
	forEachAlgorithm(t, func(t *testing.T, alg Algorithm, generate func(testing.TB) *Keyring) {
		s := mustKEK(t, generate(t))
		_, w, err := s.Wrap(make([]byte, MaxDEKSize), nil)
		if err != nil {
			t.Fatalf("Wrap of MaxDEKSize bytes: %v", err)
		}
		if len(w) != MaxDEKSize+alg.WrapOverhead() || len(w) > MaxDEKSize+MaxWrapOverhead {
			t.Fatalf("Wrap of MaxDEKSize bytes gave %d bytes", len(w))
		}
		if _, err := s.Unwrap(s.PrimaryID(), w, nil); err != nil {
			t.Fatalf("Unwrap of MaxDEKSize bytes: %v", err)
		}
		if _, _, err := s.Wrap(make([]byte, MaxDEKSize+1), nil); err == nil {
			t.Fatalf("Wrap of MaxDEKSize+1 bytes succeeded")
		}
	})
	var zero *KEK
	if _, _, err := zero.Wrap(testDEK, nil); err == nil {
		t.Fatalf("Wrap on nil KEK succeeded")
	}
	if _, err := zero.Unwrap(1, make([]byte, 60), nil); err == nil {
		t.Fatalf("Unwrap on nil KEK succeeded")
	}
	if _, _, err := new(KEK).Wrap(testDEK, nil); err == nil {
		t.Fatalf("Wrap on zero KEK succeeded")
	}
	if _, err := new(KEK).Unwrap(1, make([]byte, 60), nil); err == nil {
		t.Fatalf("Unwrap on zero KEK succeeded")
	}
	if alg, ok := zero.Algorithm(1); ok || alg != 0 {
		t.Fatalf("nil KEK: Algorithm = %v, %t", alg, ok)
	}
}

func TestKEKStatuses(t *testing.T) {
	k := mustGenerate(t)
	first := k.Primary()
	s1 := mustKEK(t, k)
	_, w1, err := s1.Wrap(testDEK, testAD)
	if err != nil {
		t.Fatal(err)
	}

	// Staged: unwraps, never wraps.
	staged, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	s2 := mustKEK(t, k)
	if !s2.Has(staged) || s2.PrimaryID() != first {
		t.Fatalf("staged KEK: has staged %t, primary %d want %d", s2.Has(staged), s2.PrimaryID(), first)
	}
	for range 20 {
		id, _, err := s2.Wrap(testDEK, testAD)
		if err != nil || id != first {
			t.Fatalf("Wrap with a staged key present used key %d (err %v), want primary %d", id, err, first)
		}
	}
	// The staged key unwraps: what its primary-to-be wraps, made by the
	// keyring after promotion, opens with the pre-promotion snapshot.
	promoted := k.Clone()
	if err := promoted.Promote(staged); err != nil {
		t.Fatal(err)
	}
	s3 := mustKEK(t, promoted)
	id3, w3, err := s3.Wrap(testDEK, testAD)
	if err != nil {
		t.Fatal(err)
	}
	if id3 != staged {
		t.Fatalf("after Promote, Wrap used key %d, want %d", id3, staged)
	}
	if got, err := s2.Unwrap(id3, w3, testAD); err != nil || !bytes.Equal(got, testDEK) {
		t.Fatalf("staged key does not unwrap in the pre-promotion snapshot: %v", err)
	}
	// The old primary still unwraps after promotion.
	if got, err := s3.Unwrap(first, w1, testAD); err != nil || !bytes.Equal(got, testDEK) {
		t.Fatalf("old primary does not unwrap after Promote: %v", err)
	}

	// Disabled: ErrUnknownKey, not ErrDecrypt, in a snapshot taken after.
	if err := promoted.Disable(first); err != nil {
		t.Fatal(err)
	}
	s4 := mustKEK(t, promoted)
	if s4.Has(first) || slices.Contains(s4.KeyIDs(), first) {
		t.Fatalf("disabled key %d in KEK: %v", first, s4.KeyIDs())
	}
	_, err = s4.Unwrap(first, w1, testAD)
	wantErr(t, "Unwrap with disabled key", err, accountvault.ErrUnknownKey)
	// Snapshots are immutable: the one taken before still unwraps.
	if _, err := s3.Unwrap(first, w1, testAD); err != nil {
		t.Fatalf("editing the keyring changed an existing KEK: %v", err)
	}
	// Re-enabled: unwraps again.
	if err := promoted.Enable(first); err != nil {
		t.Fatal(err)
	}
	if _, err := mustKEK(t, promoted).Unwrap(first, w1, testAD); err != nil {
		t.Fatalf("re-enabled key does not unwrap: %v", err)
	}
	// Deleted: unknown.
	if err := promoted.Disable(first); err != nil {
		t.Fatal(err)
	}
	if err := promoted.Delete(first); err != nil {
		t.Fatal(err)
	}
	_, err = mustKEK(t, promoted).Unwrap(first, w1, testAD)
	wantErr(t, "Unwrap with deleted key", err, accountvault.ErrUnknownKey)

	if ids := mustKEK(t, promoted).KeyIDs(); !slices.Equal(ids, []uint32{staged}) {
		t.Fatalf("KeyIDs = %v, want [%d]", ids, staged)
	}
}

func TestKEKConcurrent(t *testing.T) {
	k := legacyGenerate(t) // an AES-256-GCM key, rotated to an XAES-256-GCM one
	old := mustKEK(t, k)
	_, oldW, err := old.Wrap(testDEK, testAD)
	if err != nil {
		t.Fatal(err)
	}
	oldID := k.Primary()
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	s := mustKEK(t, k)

	const goroutines, rounds = 16, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			dek := make([]byte, 32)
			ad := []byte(fmt.Sprintf("row-%d", g))
			for i := range rounds {
				binary.BigEndian.PutUint64(dek, uint64(g*rounds+i))
				id, w, err := s.Wrap(dek, ad)
				if err != nil {
					errs <- err
					return
				}
				got, err := s.Unwrap(id, w, ad)
				if err != nil || !bytes.Equal(got, dek) {
					errs <- fmt.Errorf("goroutine %d round %d: unwrap: %v", g, i, err)
					return
				}
				if got, err := s.Unwrap(oldID, oldW, testAD); err != nil || !bytes.Equal(got, testDEK) {
					errs <- fmt.Errorf("goroutine %d: old key: %v", g, err)
					return
				}
				if !s.Has(id) || s.PrimaryID() != id || len(s.KeyIDs()) != 2 {
					errs <- fmt.Errorf("goroutine %d: snapshot reads changed: has %t, primary %d, %d ids", g, s.Has(id), s.PrimaryID(), len(s.KeyIDs()))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkKEK wraps and unwraps a 32-byte key with a keyring of four keys
// whose primary is of each algorithm, against Tink's own keyset primitive
// on the same keyset:
//
//	go test -run '^$' -bench BenchmarkKEK -benchmem -count 10 ./keyring/ > kek.txt
//	benchstat -col /alg kek.txt
func BenchmarkKEK(b *testing.B) {
	for _, a := range kekAlgorithms {
		b.Run("alg="+a.alg.String(), func(b *testing.B) {
			k := a.generate(b)
			for range 3 { // a realistic keyring: some old keys
				if _, err := k.Stage(); err != nil {
					b.Fatal(err)
				}
			}
			benchmarkKEK(b, k)
		})
	}
}

func benchmarkKEK(b *testing.B, k *Keyring) {
	s := mustKEK(b, k)
	dek := make([]byte, 32)
	id, w, err := s.Wrap(dek, testAD)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("op=Wrap", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(dek)))
		for b.Loop() {
			if _, _, err := s.Wrap(dek, testAD); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=Unwrap", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(dek)))
		for b.Loop() {
			if _, err := s.Unwrap(id, w, testAD); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Baselines: Tink's own keyset primitive on the same keyset, with the
	// 5-byte prefix in the ciphertext.
	p, err := aead.New(k.handle)
	if err != nil {
		b.Fatal(err)
	}
	ct := append(binary.BigEndian.AppendUint32([]byte{0x01}, id), w...)
	b.Run("op=TinkEncrypt", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(dek)))
		for b.Loop() {
			if _, err := p.Encrypt(dek, testAD); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=TinkDecrypt", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(dek)))
		for b.Loop() {
			if _, err := p.Decrypt(ct, testAD); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=UnwrapUnknown", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Unwrap(id+1, w, testAD); err == nil {
				b.Fatal("unknown key unwrapped")
			}
		}
	})
}
