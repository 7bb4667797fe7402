package keyring

import (
	"bytes"
	"testing"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// FuzzLoad feeds arbitrary bytes to Load under the fixed test master key.
// Load must never panic, must fail only with the load sentinels, and what
// it accepts must be a sound keyring that saves and loads back the same.
// The seed corpus (testdata/fuzz/FuzzLoad) holds a valid file and every
// failure file of testdata/.
func FuzzLoad(f *testing.F) {
	m := testMaster(f)
	f.Add(mustSave(f, mustGenerate(f), m))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Load(bytes.NewReader(data), m)
		checkFuzzResult(t, k, err, m)
	})
}

// FuzzInsecureLoadCleartext does the same for the cleartext loader, which,
// with no authentication in the way, lets the fuzzer reach Tink's keyset
// parsing and the consistency checks.
func FuzzInsecureLoadCleartext(f *testing.F) {
	var buf bytes.Buffer
	if err := InsecureSaveCleartext(&buf, mustGenerate(f)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	m := testMaster(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := InsecureLoadCleartext(bytes.NewReader(data))
		checkFuzzResult(t, k, err, m)
	})
}

func checkFuzzResult(t *testing.T, k *Keyring, err error, m tink.AEAD) {
	if err != nil {
		if k != nil {
			t.Fatalf("error %v with a non-nil keyring", err)
		}
		if !isLoadFailure(err) {
			t.Fatalf("error outside the load sentinels: %v", err)
		}
		return
	}
	primaries := 0
	for _, ki := range k.Keys() {
		if !ki.Status.valid() {
			t.Fatalf("loaded key %d with status %v", ki.ID, ki.Status)
		}
		if ki.Status == Primary {
			primaries++
		}
	}
	if primaries != 1 {
		t.Fatalf("loaded keyring with %d primary keys", primaries)
	}
	s, err := k.KEK()
	if err != nil {
		t.Fatalf("KEK of a loaded keyring: %v", err)
	}
	id, w, err := s.Wrap(make([]byte, 32), []byte("ad"))
	if err != nil || id != k.Primary() {
		t.Fatalf("Wrap: key %d (primary %d), err %v", id, k.Primary(), err)
	}
	if _, err := s.Unwrap(id, w, []byte("ad")); err != nil {
		t.Fatalf("Unwrap: %v", err)
	}
	var buf bytes.Buffer
	if err := k.Save(&buf, m); err != nil {
		t.Fatalf("Save of a loaded keyring: %v", err)
	}
	back, err := Load(&buf, m)
	if err != nil {
		t.Fatalf("Load of a re-saved keyring: %v", err)
	}
	sameKeyring(t, k, back)
}
