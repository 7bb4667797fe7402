package keyring

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"

	"github.com/accountvault/accountvault"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

var update = flag.Bool("update", false, "rewrite the files under testdata/ (golden files and fuzz seed corpora)")

// The committed test vectors, all under testMasterKey:
//
//	testdata/keyring-v2.json            a keyring with a key in every status
//	                                    and a deleted key, in the format Save
//	                                    writes (version 2)
//	testdata/keyring-v2-cleartext.json  the same keyring, cleartext
//	testdata/keyring-v2-vectors.json    its expected metadata, and wrapped keys
//	testdata/fail-v2-*.json             version 2 files Load must refuse
//	testdata/keyring-v1*.json           the same for version 1, frozen: the
//	testdata/fail-*.json                files this package wrote before
//	                                    generations; -update never rewrites
//	                                    them (nothing writes version 1 now)
//
// goldenFailures says with which error each fail-*.json must be refused. A
// change of this package that breaks loading them breaks compatibility
// with keyrings in use.
type goldenSet struct {
	keyring, cleartext, vectors string
	version                     int
}

var goldenSets = []goldenSet{
	{"testdata/keyring-v1.json", "testdata/keyring-v1-cleartext.json", "testdata/keyring-v1-vectors.json", 1},
	{"testdata/keyring-v2.json", "testdata/keyring-v2-cleartext.json", "testdata/keyring-v2-vectors.json", 2},
}

var goldenFailures = map[string]error{
	// Version 1 (frozen).
	"fail-status-staged-to-decrypt-only.json":  ErrWrongMasterKey,
	"fail-created-edited.json":                 ErrWrongMasterKey,
	"fail-key-removed-from-metadata.json":      ErrWrongMasterKey,
	"fail-keyset-byte-flipped.json":            ErrWrongMasterKey,
	"fail-truncated.json":                      ErrKeyringCorrupt,
	"fail-version-2.json":                      ErrKeyringCorrupt, // version 2 without a generation
	"fail-unknown-field.json":                  ErrKeyringCorrupt,
	"fail-two-primaries.json":                  ErrKeyringCorrupt,
	"fail-raw-key.json":                        ErrKeyringCorrupt,
	"fail-aes128-key.json":                     ErrKeyringCorrupt,
	"fail-metadata-disagrees-with-keyset.json": ErrKeyringCorrupt,
	"fail-empty-keyset.json":                   ErrEmptyKeyring,
	"fail-empty-keys.json":                     ErrEmptyKeyring,
	"fail-cleartext.json":                      ErrKeyringCorrupt,

	// Version 2: the generation, each key's generation and the deleted
	// ids are authenticated like the rest of the metadata.
	"fail-v2-status-staged-to-decrypt-only.json": ErrWrongMasterKey,
	"fail-v2-created-edited.json":                ErrWrongMasterKey,
	"fail-v2-keyset-byte-flipped.json":           ErrWrongMasterKey,
	"fail-v2-generation-lowered.json":            ErrWrongMasterKey,
	"fail-v2-generation-raised.json":             ErrWrongMasterKey,
	"fail-v2-since-edited.json":                  ErrWrongMasterKey,
	"fail-v2-deleted-removed.json":               ErrWrongMasterKey,
	"fail-v2-deleted-added.json":                 ErrWrongMasterKey,
	"fail-v2-relabelled-v1.json":                 ErrWrongMasterKey, // generations stripped: a downgrade
	"fail-v2-from-v1-relabelled.json":            ErrWrongMasterKey, // a version 1 file given generation 0
	"fail-v2-no-generation.json":                 ErrKeyringCorrupt,
	"fail-v2-key-without-since.json":             ErrKeyringCorrupt,
	"fail-v2-since-after-generation.json":        ErrKeyringCorrupt,
	"fail-v2-deleted-unsorted.json":              ErrKeyringCorrupt,
	"fail-v2-deleted-also-a-key.json":            ErrKeyringCorrupt,
	"fail-v2-version-3.json":                     ErrKeyringCorrupt,
	"fail-v2-raw-key.json":                       ErrKeyringCorrupt,
	"fail-v2-cleartext.json":                     ErrKeyringCorrupt,
}

type goldenWrap struct {
	Comment string `json:"comment"`
	KeyID   uint32 `json:"key_id"`
	AD      string `json:"ad"`
	Wrapped string `json:"wrapped"`       // base64
	DEK     string `json:"dek,omitempty"` // base64, when Want is "ok"
	Want    string `json:"want"`          // "ok", "unknown-key" or "decrypt"
}

type goldenFile struct {
	Generation *uint64      `json:"generation,omitempty"` // absent in version 1: 0
	Keys       []fileKey    `json:"keys"`
	Deleted    []uint32     `json:"deleted,omitempty"`
	Wraps      []goldenWrap `json:"wraps"`
}

func TestGoldenFiles(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	for _, set := range goldenSets {
		t.Run(filepath.Base(set.keyring), func(t *testing.T) { checkGoldenSet(t, set) })
	}

	m := testMaster(t)
	files, err := filepath.Glob("testdata/fail-*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(goldenFailures) {
		t.Errorf("%d fail-*.json files, %d in goldenFailures", len(files), len(goldenFailures))
	}
	for _, path := range files {
		target, ok := goldenFailures[filepath.Base(path)]
		if !ok {
			t.Errorf("%s: not in goldenFailures", path)
			continue
		}
		_, err := LoadFile(path, m, AllowInsecurePermissions())
		wantErr(t, path, err, target)
	}
}

func checkGoldenSet(t *testing.T, set goldenSet) {
	m := testMaster(t)
	k, err := LoadFile(set.keyring, m, AllowInsecurePermissions()) // git does not keep 0600
	if err != nil {
		t.Fatalf("Load %s: %v", set.keyring, err)
	}
	data, err := os.ReadFile(set.cleartext)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := InsecureLoadCleartext(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("InsecureLoadCleartext %s: %v", set.cleartext, err)
	}
	sameKeyring(t, k, kc)

	var g goldenFile
	data, err = os.ReadFile(set.vectors)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	var generation uint64
	if g.Generation != nil {
		generation = *g.Generation
	}
	want, err := checkKeys(g.Keys, set.version, generation)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Keys(); !slices.Equal(got, want) {
		t.Fatalf("golden keyring keys:\n got %v\nwant %v", got, want)
	}
	if k.Generation() != generation || !slices.Equal(k.DeletedKeys(), g.Deleted) {
		t.Fatalf("golden keyring: generation %d, deleted %v; want %d, %v", k.Generation(), k.DeletedKeys(), generation, g.Deleted)
	}
	s := mustKEK(t, k)
	for _, w := range g.Wraps {
		wrapped, err := decodeBase64("wrapped", w.Wrapped)
		if err != nil {
			t.Fatal(err)
		}
		dek, err := s.Unwrap(w.KeyID, wrapped, []byte(w.AD))
		switch w.Want {
		case "ok":
			wantDEK, derr := decodeBase64("dek", w.DEK)
			if derr != nil {
				t.Fatal(derr)
			}
			if err != nil || !bytes.Equal(dek, wantDEK) {
				t.Errorf("%s: err %v, equal %t", w.Comment, err, bytes.Equal(dek, wantDEK))
			}
		case "unknown-key":
			wantErr(t, w.Comment, err, accountvault.ErrUnknownKey)
		case "decrypt":
			wantErr(t, w.Comment, err, accountvault.ErrDecrypt)
		default:
			t.Fatalf("%s: unknown want %q", w.Comment, w.Want)
		}
	}

	// A saved keyring is in the current version, whatever it was loaded
	// from, and loads back the same.
	saved := mustSave(t, k, m)
	if !bytes.HasPrefix(saved, []byte("{\n  \"version\": 2,\n  \"generation\": ")) {
		t.Fatalf("Save of a keyring loaded from %s does not write version 2:\n%.60s", set.keyring, saved)
	}
	back, err := Load(bytes.NewReader(saved), m)
	if err != nil {
		t.Fatal(err)
	}
	sameKeyring(t, k, back)
}

// writeGolden regenerates the version 2 files of testdata/ and the fuzz
// seed corpora under -update. The version 1 files are frozen.
func writeGolden(t *testing.T) {
	m := testMaster(t)
	dek := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	var wraps []goldenWrap
	wrap := func(s *KEK, comment string, d []byte, ad string) (uint32, []byte) {
		id, w, err := s.Wrap(d, []byte(ad))
		if err != nil {
			t.Fatal(err)
		}
		wraps = append(wraps, goldenWrap{Comment: comment, KeyID: id, AD: ad, Wrapped: b64(w), DEK: b64(d), Want: "ok"})
		return id, w
	}
	// wrapGone wraps under key id of a clone in which id is primary, and
	// records that the keyring cannot unwrap it.
	wrapGone := func(k *Keyring, id uint32, comment string, d []byte, ad string) {
		c := k.Clone()
		if err := c.Promote(id); err != nil {
			t.Fatal(err)
		}
		_, w := wrap(mustKEK(t, c), "", d, ad)
		wraps[len(wraps)-1] = goldenWrap{Comment: comment, KeyID: id, AD: ad, Wrapped: b64(w), Want: "unknown-key"}
	}

	// An AES-256-GCM keyring, as versions before XAES-256-GCM made it (see
	// golden_xaes_test.go for a keyring holding both algorithms).
	k := legacyGenerate(t)
	wrap(mustKEK(t, k), "wrapped by the first primary, now decrypt-only", dek(1), "v1|accounts|access_token|github|1|user-1")
	if err := k.Promote(stageAESGCM(t, k)); err != nil {
		t.Fatal(err)
	}
	id, w := wrap(mustKEK(t, k), "wrapped by the primary", dek(2), "v1|accounts|refresh_token|google|2|user-2")
	wraps = append(wraps,
		goldenWrap{Comment: "primary, other associated data", KeyID: id, AD: "v1|accounts|refresh_token|google|2|user-3", Wrapped: b64(w), Want: "decrypt"},
		goldenWrap{Comment: "primary, last byte flipped", KeyID: id, AD: "v1|accounts|refresh_token|google|2|user-2", Wrapped: b64(append(bytes.Clone(w[:len(w)-1]), w[len(w)-1]^1)), Want: "decrypt"},
	)
	staged := stageAESGCM(t, k)
	c := k.Clone()
	if err := c.Promote(staged); err != nil {
		t.Fatal(err)
	}
	wrap(mustKEK(t, c), "wrapped by the staged key (by a replica that promoted it)", dek(3), "v1|accounts|id_token|apple|3|user-3")
	disabled := stageAESGCM(t, k)
	wrapGone(k, disabled, "wrapped by a key since disabled", dek(4), "v1|accounts|access_token|apple|4|user-4")
	if err := k.Disable(disabled); err != nil {
		t.Fatal(err)
	}
	deleted := stageAESGCM(t, k)
	wrapGone(k, deleted, "wrapped by a key since deleted", dek(5), "v1|accounts|access_token|apple|5|user-5")
	if err := k.Disable(deleted); err != nil {
		t.Fatal(err)
	}
	// The last edit is a deletion, which gives no key the last
	// generation: fail-v2-generation-lowered stays consistent.
	if err := k.Delete(deleted); err != nil {
		t.Fatal(err)
	}
	wraps = append(wraps, goldenWrap{Comment: "a key id the keyring never held", KeyID: id ^ 0xffffffff, AD: "x", Wrapped: b64(w), Want: "unknown-key"})

	good := mustSave(t, k, m)
	var cleartext bytes.Buffer
	if err := InsecureSaveCleartext(&cleartext, k); err != nil {
		t.Fatal(err)
	}
	gen := k.Generation()
	vectors, err := json.MarshalIndent(goldenFile{Generation: &gen, Keys: fileKeys(k.keys), Deleted: k.deleted, Wraps: wraps}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}

	index := func(f *fileJSON, st Status) int {
		return slices.IndexFunc(f.Keys, func(fk fileKey) bool { return fk.Status == st })
	}
	u64 := func(v uint64) *uint64 { return &v }
	flipped := editFile(t, good, func(f *fileJSON) {
		raw, err := decodeBase64("keyset", f.Keyset)
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)/2] ^= 1
		f.Keyset = b64(raw)
	})
	v1, err := os.ReadFile("testdata/keyring-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	kks, kid := keysetOf(t, aead.AES256GCMNoPrefixKeyTemplate())
	fails := map[string][]byte{
		"fail-v2-status-staged-to-decrypt-only.json": editFile(t, good, func(f *fileJSON) { f.Keys[index(f, Staged)].Status = DecryptOnly }),
		"fail-v2-created-edited.json":                editFile(t, good, func(f *fileJSON) { f.Keys[0].Created = f.Keys[0].Created.AddDate(-1, 0, 0) }),
		"fail-v2-keyset-byte-flipped.json":           flipped,
		"fail-v2-generation-lowered.json":            editFile(t, good, func(f *fileJSON) { *f.Generation-- }),
		"fail-v2-generation-raised.json":             editFile(t, good, func(f *fileJSON) { *f.Generation++ }),
		"fail-v2-since-edited.json":                  editFile(t, good, func(f *fileJSON) { *f.Keys[0].Since-- }),
		"fail-v2-deleted-removed.json":               editFile(t, good, func(f *fileJSON) { f.Deleted = nil }),
		"fail-v2-deleted-added.json": editFile(t, good, func(f *fileJSON) {
			extra := f.Deleted[0] ^ 0x5a5a5a5a
			f.Deleted = append(f.Deleted, extra)
			slices.Sort(f.Deleted)
		}),
		"fail-v2-relabelled-v1.json": editFile(t, good, func(f *fileJSON) {
			f.Version, f.Generation, f.Deleted = 1, nil, nil
			for i := range f.Keys {
				f.Keys[i].Since = nil
			}
		}),
		"fail-v2-from-v1-relabelled.json": editFile(t, v1, func(f *fileJSON) {
			f.Version, f.Generation = 2, u64(0)
			for i := range f.Keys {
				f.Keys[i].Since = u64(0)
			}
		}),
		"fail-v2-no-generation.json":          editFile(t, good, func(f *fileJSON) { f.Generation = nil }),
		"fail-v2-key-without-since.json":      editFile(t, good, func(f *fileJSON) { f.Keys[0].Since = nil }),
		"fail-v2-since-after-generation.json": editFile(t, good, func(f *fileJSON) { f.Keys[0].Since = u64(*f.Generation + 1) }),
		"fail-v2-deleted-unsorted.json":       editFile(t, good, func(f *fileJSON) { f.Deleted = append(f.Deleted, f.Deleted[0]) }),
		"fail-v2-deleted-also-a-key.json": editFile(t, good, func(f *fileJSON) {
			f.Deleted = append(f.Deleted, f.Keys[0].ID)
			slices.Sort(f.Deleted)
		}),
		"fail-v2-version-3.json": editFile(t, good, func(f *fileJSON) { f.Version = 3 }),
		"fail-v2-raw-key.json":   sealFile(t, m, kks, []KeyInfo{{ID: kid, Status: Primary, Created: k.keys[0].Created, Since: 1}}),
		"fail-v2-cleartext.json": cleartext.Bytes(),
	}

	writeFile := func(path string, data []byte) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, err := filepath.Glob("testdata/fail-v2-*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	set := goldenSets[len(goldenSets)-1]
	writeFile(set.keyring, good)
	writeFile(set.cleartext, cleartext.Bytes())
	writeFile(set.vectors, append(vectors, '\n'))
	for name, data := range fails {
		writeFile(filepath.Join("testdata", name), data)
	}

	// Fuzz seed corpora: every keyring file of testdata/ (version 1 and
	// 2, good and failing) for Load; cleartext keysets with every kind of
	// problem for InsecureLoadCleartext (the version 1 ones, written
	// before, stay).
	seed := func(target, name string, data []byte) {
		writeFile(filepath.Join("testdata/fuzz", target, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data))
	}
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range files {
		if strings.HasSuffix(p, "-vectors.json") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seed("FuzzLoad", strings.TrimSuffix(filepath.Base(p), ".json"), data)
	}
	seed("FuzzLoad", "not-json", []byte("accountvault"))
	seed("FuzzLoad", "empty-object", []byte("{}"))

	seed("FuzzInsecureLoadCleartext", "keyring-v2-cleartext", cleartext.Bytes())
	now := k.keys[0].Created
	ks := insecurecleartextkeyset.KeysetMaterial(k.handle)
	for name, tmpl := range map[string]*tinkpb.KeyTemplate{
		"raw-key":       aead.AES256GCMNoPrefixKeyTemplate(),
		"aes128-key":    aead.AES128GCMKeyTemplate(),
		"chacha20-key":  aead.ChaCha20Poly1305KeyTemplate(),
		"crunchy-key":   crunchy(aead.AES256GCMKeyTemplate()),
		"aes256gcm-key": aead.AES256GCMKeyTemplate(),
	} {
		kks, id := keysetOf(t, tmpl)
		seed("FuzzInsecureLoadCleartext", "v2-"+name, cleartextFile(t, kks, []KeyInfo{{ID: id, Status: Primary, Created: now, Since: 1}}))
	}
	disagree := slices.Clone(k.keys)
	for i := range disagree {
		if disagree[i].Status == Disabled {
			disagree[i].Status = DecryptOnly
		}
	}
	seed("FuzzInsecureLoadCleartext", "v2-metadata-disagrees", cleartextFile(t, ks, disagree))
	seed("FuzzInsecureLoadCleartext", "v2-empty-keyset", cleartextFile(t, &tinkpb.Keyset{PrimaryKeyId: 1}, []KeyInfo{{ID: 1, Status: Primary, Created: now, Since: 1}}))
	destroyed := insecurecleartextkeyset.KeysetMaterial(k.handle)
	for _, key := range destroyed.Key {
		if key.KeyId != destroyed.PrimaryKeyId {
			key.Status = tinkpb.KeyStatusType_DESTROYED
			key.KeyData = nil
			break
		}
	}
	seed("FuzzInsecureLoadCleartext", "v2-destroyed-key", cleartextFile(t, destroyed, k.keys))
	t.Logf("rewrote the version 2 files of testdata/ and the fuzz seeds")
}
