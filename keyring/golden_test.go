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
//	testdata/keyring-v1.json            an AES-256-GCM keyring (as made before
//	                                    XAES-256-GCM) with a key in every status
//	testdata/keyring-v1-cleartext.json  the same keyring, cleartext
//	testdata/keyring-v1-vectors.json    its expected metadata, and wrapped keys
//	testdata/fail-*.json                files Load must refuse; goldenFailures
//	                                    says with which error
//
// A change of this package that breaks loading them breaks compatibility
// with keyrings in use.
const (
	goldenKeyring   = "testdata/keyring-v1.json"
	goldenCleartext = "testdata/keyring-v1-cleartext.json"
	goldenVectors   = "testdata/keyring-v1-vectors.json"
)

var goldenFailures = map[string]error{
	"fail-status-staged-to-decrypt-only.json":  ErrWrongMasterKey,
	"fail-created-edited.json":                 ErrWrongMasterKey,
	"fail-key-removed-from-metadata.json":      ErrWrongMasterKey,
	"fail-keyset-byte-flipped.json":            ErrWrongMasterKey,
	"fail-truncated.json":                      ErrKeyringCorrupt,
	"fail-version-2.json":                      ErrKeyringCorrupt,
	"fail-unknown-field.json":                  ErrKeyringCorrupt,
	"fail-two-primaries.json":                  ErrKeyringCorrupt,
	"fail-raw-key.json":                        ErrKeyringCorrupt,
	"fail-aes128-key.json":                     ErrKeyringCorrupt,
	"fail-metadata-disagrees-with-keyset.json": ErrKeyringCorrupt,
	"fail-empty-keyset.json":                   ErrEmptyKeyring,
	"fail-empty-keys.json":                     ErrEmptyKeyring,
	"fail-cleartext.json":                      ErrKeyringCorrupt,
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
	Keys  []fileKey    `json:"keys"`
	Wraps []goldenWrap `json:"wraps"`
}

func TestGoldenFiles(t *testing.T) {
	if *update {
		writeGolden(t)
	}
	m := testMaster(t)
	k, err := LoadFile(goldenKeyring, m, AllowInsecurePermissions()) // git does not keep 0600
	if err != nil {
		t.Fatalf("Load %s: %v", goldenKeyring, err)
	}
	data, err := os.ReadFile(goldenCleartext)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := InsecureLoadCleartext(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("InsecureLoadCleartext %s: %v", goldenCleartext, err)
	}
	sameKeyring(t, k, kc)

	var g goldenFile
	data, err = os.ReadFile(goldenVectors)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	want, err := checkKeys(g.Keys)
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Keys(); !slices.Equal(got, want) {
		t.Fatalf("golden keyring keys:\n got %v\nwant %v", got, want)
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

// writeGolden regenerates testdata/ under -update.
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
	c = k.Clone()
	if err := c.Promote(disabled); err != nil {
		t.Fatal(err)
	}
	_, w = wrap(mustKEK(t, c), "", dek(4), "v1|accounts|access_token|apple|4|user-4")
	wraps[len(wraps)-1] = goldenWrap{Comment: "wrapped by a key since disabled", KeyID: disabled, AD: "v1|accounts|access_token|apple|4|user-4", Wrapped: b64(w), Want: "unknown-key"}
	if err := k.Disable(disabled); err != nil {
		t.Fatal(err)
	}
	wraps = append(wraps, goldenWrap{Comment: "a key id the keyring never held", KeyID: id ^ 0xffffffff, AD: "x", Wrapped: b64(w), Want: "unknown-key"})

	good := mustSave(t, k, m)
	var cleartext bytes.Buffer
	if err := InsecureSaveCleartext(&cleartext, k); err != nil {
		t.Fatal(err)
	}
	vectors, err := json.MarshalIndent(goldenFile{Keys: fileKeys(k.keys), Wraps: wraps}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}

	index := func(f *fileV1, st Status) int {
		return slices.IndexFunc(f.Keys, func(fk fileKey) bool { return fk.Status == st })
	}
	ks := insecurecleartextkeyset.KeysetMaterial(k.handle)
	oneKey := func(tmpl *tinkpb.KeyTemplate) []byte {
		kks, id := keysetOf(t, tmpl)
		return sealFile(t, m, kks, []KeyInfo{{ID: id, Status: Primary, Created: k.keys[0].Created}})
	}
	disagree := slices.Clone(k.keys)
	for i := range disagree {
		if disagree[i].Status == Disabled {
			disagree[i].Status = DecryptOnly
		}
	}
	var gf fileV1
	if err := json.Unmarshal(good, &gf); err != nil {
		t.Fatal(err)
	}
	flipped := editFile(t, good, func(f *fileV1) {
		raw, err := decodeBase64("keyset", f.Keyset)
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)/2] ^= 1
		f.Keyset = b64(raw)
	})
	fails := map[string][]byte{
		"fail-status-staged-to-decrypt-only.json": editFile(t, good, func(f *fileV1) { f.Keys[index(f, Staged)].Status = DecryptOnly }),
		"fail-created-edited.json":                editFile(t, good, func(f *fileV1) { f.Keys[0].Created = f.Keys[0].Created.AddDate(-1, 0, 0) }),
		"fail-key-removed-from-metadata.json": editFile(t, good, func(f *fileV1) {
			f.Keys = slices.Delete(f.Keys, index(f, Disabled), index(f, Disabled)+1)
		}),
		"fail-keyset-byte-flipped.json":            flipped,
		"fail-truncated.json":                      good[:len(good)/2],
		"fail-version-2.json":                      editFile(t, good, func(f *fileV1) { f.Version = 2 }),
		"fail-unknown-field.json":                  bytes.Replace(good, []byte(`"version"`), []byte(`"comment": "added by hand",`+"\n  "+`"version"`), 1),
		"fail-two-primaries.json":                  editFile(t, good, func(f *fileV1) { f.Keys[index(f, Staged)].Status = Primary }),
		"fail-raw-key.json":                        oneKey(aead.AES256GCMNoPrefixKeyTemplate()),
		"fail-aes128-key.json":                     oneKey(aead.AES128GCMKeyTemplate()),
		"fail-metadata-disagrees-with-keyset.json": sealFile(t, m, ks, disagree),
		"fail-empty-keyset.json":                   sealFile(t, m, &tinkpb.Keyset{PrimaryKeyId: k.Primary()}, k.keys),
		"fail-empty-keys.json":                     editFile(t, good, func(f *fileV1) { f.Keys = nil }),
		"fail-cleartext.json":                      cleartext.Bytes(),
	}

	writeFile := func(path string, data []byte) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, err := filepath.Glob("testdata/fail-*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(goldenKeyring, good)
	writeFile(goldenCleartext, cleartext.Bytes())
	writeFile(goldenVectors, append(vectors, '\n'))
	for name, data := range fails {
		writeFile(filepath.Join("testdata", name), data)
	}

	// Fuzz seed corpora: every file above for Load; cleartext keysets with
	// every kind of problem for InsecureLoadCleartext.
	for _, dir := range []string{"testdata/fuzz/FuzzLoad", "testdata/fuzz/FuzzInsecureLoadCleartext"} {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	seed := func(target, name string, data []byte) {
		writeFile(filepath.Join("testdata/fuzz", target, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data))
	}
	seed("FuzzLoad", "keyring-v1", good)
	for name, data := range fails {
		seed("FuzzLoad", strings.TrimSuffix(name, ".json"), data)
	}
	seed("FuzzLoad", "not-json", []byte("accountvault"))
	seed("FuzzLoad", "empty-object", []byte("{}"))

	seed("FuzzInsecureLoadCleartext", "keyring-v1-cleartext", cleartext.Bytes())
	now := k.keys[0].Created
	for name, tmpl := range map[string]*tinkpb.KeyTemplate{
		"raw-key":       aead.AES256GCMNoPrefixKeyTemplate(),
		"aes128-key":    aead.AES128GCMKeyTemplate(),
		"chacha20-key":  aead.ChaCha20Poly1305KeyTemplate(),
		"crunchy-key":   crunchy(aead.AES256GCMKeyTemplate()),
		"aes256gcm-key": aead.AES256GCMKeyTemplate(),
	} {
		kks, id := keysetOf(t, tmpl)
		seed("FuzzInsecureLoadCleartext", name, cleartextFile(t, kks, []KeyInfo{{ID: id, Status: Primary, Created: now}}))
	}
	seed("FuzzInsecureLoadCleartext", "metadata-disagrees", cleartextFile(t, ks, disagree))
	seed("FuzzInsecureLoadCleartext", "empty-keyset", cleartextFile(t, &tinkpb.Keyset{PrimaryKeyId: 1}, []KeyInfo{{ID: 1, Status: Primary, Created: now}}))
	destroyed := insecurecleartextkeyset.KeysetMaterial(k.handle)
	for _, key := range destroyed.Key {
		if key.KeyId != destroyed.PrimaryKeyId {
			key.Status = tinkpb.KeyStatusType_DESTROYED
			key.KeyData = nil
			break
		}
	}
	seed("FuzzInsecureLoadCleartext", "destroyed-key", cleartextFile(t, destroyed, k.keys))
	t.Logf("rewrote testdata/")
}
