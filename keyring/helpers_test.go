package keyring

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tink-crypto/tink-go/v2/tink"

	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// testMasterKey is a fixed, public test master key (bytes 0x00..0x1f). The
// committed files under testdata/ are saved under it.
const testMasterKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func testMaster(t testing.TB) tink.AEAD {
	t.Helper()
	m, err := ParseMasterKey(testMasterKey)
	if err != nil {
		t.Fatalf("ParseMasterKey(test key): %v", err)
	}
	return m
}

func newMaster(t testing.TB) tink.AEAD {
	t.Helper()
	s, err := NewMasterKey()
	if err != nil {
		t.Fatalf("NewMasterKey: %v", err)
	}
	m, err := ParseMasterKey(s)
	if err != nil {
		t.Fatalf("ParseMasterKey(new key): %v", err)
	}
	return m
}

func mustGenerate(t testing.TB) *Keyring {
	t.Helper()
	k, err := Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return k
}

func mustKEK(t testing.TB, k *Keyring) *KEK {
	t.Helper()
	s, err := k.KEK()
	if err != nil {
		t.Fatalf("KEK: %v", err)
	}
	return s
}

func mustSave(t testing.TB, k *Keyring, master tink.AEAD) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := k.Save(&buf, master); err != nil {
		t.Fatalf("Save: %v", err)
	}
	return buf.Bytes()
}

// statusOf returns the status of key id in k, or 0 if k does not hold it.
func statusOf(k *Keyring, id uint32) Status {
	for _, ki := range k.Keys() {
		if ki.ID == id {
			return ki.Status
		}
	}
	return 0
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// testMetadata is the version 2 metadata of keys, at the generation of
// their highest Since (at least 1).
func testMetadata(keys []KeyInfo) *metadata {
	md := &metadata{version: formatVersion, generation: 1, keys: keys}
	for _, k := range keys {
		md.generation = max(md.generation, k.Since)
	}
	return md
}

// fileOfMetadata is the file object of md, without a keyset.
func fileOfMetadata(md *metadata) *fileJSON {
	return fileOf(&Keyring{keys: md.keys, generation: md.generation, deleted: md.deleted})
}

// sealFile builds a keyring file from an arbitrary keyset and metadata,
// encrypted and authenticated under master exactly as Save does: it lets
// tests make files that authenticate but are inconsistent.
func sealFile(t testing.TB, master tink.AEAD, ks *tinkpb.Keyset, keys []KeyInfo) []byte {
	t.Helper()
	return sealFileMetadata(t, master, ks, testMetadata(keys))
}

func sealFileMetadata(t testing.TB, master tink.AEAD, ks *tinkpb.Keyset, md *metadata) []byte {
	t.Helper()
	pt, err := proto.Marshal(ks)
	if err != nil {
		t.Fatalf("marshal keyset: %v", err)
	}
	ct, err := master.Encrypt(pt, metadataAD(md))
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	enc, err := proto.Marshal(&tinkpb.EncryptedKeyset{EncryptedKeyset: ct})
	if err != nil {
		t.Fatalf("marshal encrypted keyset: %v", err)
	}
	f := fileOfMetadata(md)
	f.Keyset = b64(enc)
	data, err := encodeFile(f)
	if err != nil {
		t.Fatalf("encodeFile: %v", err)
	}
	return data
}

// sameKeyring fails unless a and b hold the same keys with the same
// metadata, and each unwraps what the other wraps.
func sameKeyring(t testing.TB, a, b *Keyring) {
	t.Helper()
	ka, kb := a.Keys(), b.Keys()
	if len(ka) != len(kb) {
		t.Fatalf("keys: %d vs %d", len(ka), len(kb))
	}
	for i := range ka {
		if ka[i].ID != kb[i].ID || ka[i].Status != kb[i].Status || !ka[i].Created.Equal(kb[i].Created) || ka[i].Since != kb[i].Since {
			t.Fatalf("key %d: %+v vs %+v", i, ka[i], kb[i])
		}
		if ka[i].Created != kb[i].Created {
			t.Fatalf("key %d: created %v vs %v (not identical time.Time values)", i, ka[i].Created, kb[i].Created)
		}
	}
	if a.Primary() != b.Primary() {
		t.Fatalf("primary: %d vs %d", a.Primary(), b.Primary())
	}
	if a.Generation() != b.Generation() || !slices.Equal(a.DeletedKeys(), b.DeletedKeys()) {
		t.Fatalf("generation %d vs %d, deleted %v vs %v", a.Generation(), b.Generation(), a.DeletedKeys(), b.DeletedKeys())
	}
	sa, sb := mustKEK(t, a), mustKEK(t, b)
	for _, pair := range [][2]*KEK{{sa, sb}, {sb, sa}} {
		dek := []byte("0123456789abcdef0123456789abcdef")
		id, w, err := pair[0].Wrap(dek, []byte("ad"))
		if err != nil {
			t.Fatalf("Wrap: %v", err)
		}
		got, err := pair[1].Unwrap(id, w, []byte("ad"))
		if err != nil || !bytes.Equal(got, dek) {
			t.Fatalf("Unwrap across keyrings: err = %v, equal = %t", err, bytes.Equal(got, dek))
		}
	}
	// Every enabled key, not only the primary, must be the same key.
	for _, ki := range ka {
		if !ki.Status.canUnwrap() {
			continue
		}
		ct, err := sa.byID[ki.ID].Encrypt([]byte("x"), nil)
		if err != nil {
			t.Fatalf("encrypt with key %d: %v", ki.ID, err)
		}
		if _, err := sb.byID[ki.ID].Decrypt(ct, nil); err != nil {
			t.Fatalf("key %d differs between keyrings: %v", ki.ID, err)
		}
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
