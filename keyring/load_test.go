package keyring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// fullKeyring returns a keyring with a key in every status.
func fullKeyring(t testing.TB) *Keyring {
	t.Helper()
	k := mustGenerate(t) // becomes decrypt-only
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Stage(); err != nil {
		t.Fatal(err)
	}
	d, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Disable(d); err != nil {
		t.Fatal(err)
	}
	seen := map[Status]bool{}
	for _, ki := range k.Keys() {
		seen[ki.Status] = true
	}
	if len(seen) != 4 {
		t.Fatalf("fullKeyring: statuses %v", seen)
	}
	return k
}

func TestSaveLoadRoundTrip(t *testing.T) {
	k := fullKeyring(t)
	m := testMaster(t)
	data := mustSave(t, k, m)
	back, err := Load(bytes.NewReader(data), m)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	sameKeyring(t, k, back)

	// A loaded keyring is editable and saves again.
	if _, err := back.Rotate(); err != nil {
		t.Fatal(err)
	}
	again, err := Load(bytes.NewReader(mustSave(t, back, m)), m)
	if err != nil {
		t.Fatal(err)
	}
	sameKeyring(t, back, again)
}

func TestLoadWrongMasterKey(t *testing.T) {
	data := mustSave(t, fullKeyring(t), testMaster(t))
	_, err := Load(bytes.NewReader(data), newMaster(t))
	wantErr(t, "Load with another master key", err, ErrWrongMasterKey)
	_, err = Load(bytes.NewReader(data), nil)
	wantErr(t, "Load with nil master", err, ErrNoMasterKey)
	wantErr(t, "Save with nil master", mustGenerate(t).Save(io.Discard, nil), ErrNoMasterKey)
}

// loadFailure is what a modified file may give.
func isLoadFailure(err error) bool {
	return errors.Is(err, ErrKeyringCorrupt) || errors.Is(err, ErrWrongMasterKey) || errors.Is(err, ErrEmptyKeyring)
}

// checkModified loads a modified file: it must fail with one of the load
// sentinels, or, for the few edits that change no meaning (JSON whitespace,
// the case of a field name, which encoding/json ignores), load a keyring
// identical to the original. It reports whether the load succeeded.
func checkModified(t *testing.T, what string, orig *Keyring, data []byte, m tink.AEAD) bool {
	t.Helper()
	k, err := Load(bytes.NewReader(data), m)
	if err == nil {
		sameKeyring(t, orig, k)
		return true
	}
	if !isLoadFailure(err) {
		t.Fatalf("%s: err = %v", what, err)
	}
	return false
}

func TestLoadTruncated(t *testing.T) {
	m := testMaster(t)
	k := fullKeyring(t)
	data := mustSave(t, k, m)
	for n := range len(data) {
		if checkModified(t, fmt.Sprintf("Load of the first %d of %d bytes", n, len(data)), k, data[:n], m) && n != len(data)-1 {
			t.Fatalf("Load of the first %d of %d bytes succeeded", n, len(data))
		}
	}
}

func TestLoadFlippedByte(t *testing.T) {
	m := testMaster(t)
	k := fullKeyring(t)
	data := mustSave(t, k, m)
	loaded := 0
	for _, mask := range []byte{0x01, 0x20, 0x80, 0xff} {
		for i := range data {
			bad := bytes.Clone(data)
			bad[i] ^= mask
			if checkModified(t, fmt.Sprintf("Load with byte %d ^ %#x", i, mask), k, bad, m) {
				loaded++
			}
		}
	}
	// Only field-name case flips (^0x20 on a letter of "version",
	// "generation", "keyset", "keys", "id", "status", "created", "since",
	// 4 keys) may load.
	if max := len("version") + len("generation") + len("keyset") + len("keys") + 4*len("idstatuscreatedsince"); loaded > max {
		t.Fatalf("%d modified files loaded, want at most %d", loaded, max)
	}
	t.Logf("%d of %d modified files loaded (case of field names), all identical", loaded, 4*len(data))
}

// editFile decodes a saved file, applies edit to its metadata, and encodes
// it again: the keyset is untouched.
func editFile(t testing.TB, data []byte, edit func(f *fileJSON)) []byte {
	t.Helper()
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	edit(&f)
	out, err := encodeFile(&f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadMetadataEdited(t *testing.T) {
	m := testMaster(t)
	k := fullKeyring(t)
	data := mustSave(t, k, m)
	index := func(f *fileJSON, st Status) int {
		for i, fk := range f.Keys {
			if fk.Status == st {
				return i
			}
		}
		t.Fatalf("no %v key", st)
		return -1
	}
	edits := []struct {
		name string
		edit func(f *fileJSON)
		want error
	}{
		// Tink cannot see these: only the associated data protects them.
		{"staged to decrypt-only", func(f *fileJSON) { f.Keys[index(f, Staged)].Status = DecryptOnly }, ErrWrongMasterKey},
		{"decrypt-only to staged", func(f *fileJSON) { f.Keys[index(f, DecryptOnly)].Status = Staged }, ErrWrongMasterKey},
		{"created +1ns", func(f *fileJSON) { f.Keys[0].Created = f.Keys[0].Created.Add(time.Nanosecond) }, ErrWrongMasterKey},
		{"created -1h", func(f *fileJSON) { f.Keys[1].Created = f.Keys[1].Created.Add(-time.Hour) }, ErrWrongMasterKey},
		{"keys swapped", func(f *fileJSON) { f.Keys[0], f.Keys[1] = f.Keys[1], f.Keys[0] }, ErrWrongMasterKey},
		// These Tink would also catch after decryption; the associated data
		// catches them first.
		{"disabled to decrypt-only", func(f *fileJSON) { f.Keys[index(f, Disabled)].Status = DecryptOnly }, ErrWrongMasterKey},
		{"primary moved", func(f *fileJSON) {
			f.Keys[index(f, Primary)].Status = DecryptOnly
			f.Keys[index(f, Staged)].Status = Primary
		}, ErrWrongMasterKey},
		{"id changed", func(f *fileJSON) { f.Keys[0].ID++ }, ErrWrongMasterKey},
		{"key dropped", func(f *fileJSON) { f.Keys = f.Keys[1:] }, ErrWrongMasterKey},
		{"key added", func(f *fileJSON) {
			f.Keys = append(f.Keys, fileKey{ID: f.Keys[0].ID + 1, Status: Disabled, Created: f.Keys[0].Created, Since: f.Keys[0].Since})
		}, ErrWrongMasterKey},
		{"generation lowered", func(f *fileJSON) {
			*f.Generation--
			for i := range f.Keys {
				*f.Keys[i].Since = min(*f.Keys[i].Since, *f.Generation)
			}
		}, ErrWrongMasterKey},
		{"generation raised", func(f *fileJSON) { *f.Generation++ }, ErrWrongMasterKey},
		{"since lowered", func(f *fileJSON) { *f.Keys[1].Since-- }, ErrWrongMasterKey},
		{"deleted added", func(f *fileJSON) { f.Deleted = []uint32{f.Keys[0].ID + 1} }, ErrWrongMasterKey},
		{"downgraded to version 1", func(f *fileJSON) {
			f.Version, f.Generation = 1, nil
			for i := range f.Keys {
				f.Keys[i].Since = nil
			}
		}, ErrWrongMasterKey},
		// Checked before any decryption.
		{"all keys dropped", func(f *fileJSON) { f.Keys = nil }, ErrEmptyKeyring},
		{"two primaries", func(f *fileJSON) { f.Keys[index(f, Staged)].Status = Primary }, ErrKeyringCorrupt},
		{"no primary", func(f *fileJSON) { f.Keys[index(f, Primary)].Status = DecryptOnly }, ErrKeyringCorrupt},
		{"duplicate id", func(f *fileJSON) { f.Keys[1].ID = f.Keys[0].ID }, ErrKeyringCorrupt},
		{"zero created", func(f *fileJSON) { f.Keys[0].Created = time.Time{} }, ErrKeyringCorrupt},
		{"version 1 with generations", func(f *fileJSON) { f.Version = 1 }, ErrKeyringCorrupt},
		{"version 3", func(f *fileJSON) { f.Version = 3 }, ErrKeyringCorrupt},
		{"no generation", func(f *fileJSON) { f.Generation = nil }, ErrKeyringCorrupt},
		{"key without generation", func(f *fileJSON) { f.Keys[0].Since = nil }, ErrKeyringCorrupt},
		{"key after the generation", func(f *fileJSON) { *f.Keys[0].Since = *f.Generation + 1 }, ErrKeyringCorrupt},
		{"deleted twice", func(f *fileJSON) { f.Deleted = []uint32{7, 7} }, ErrKeyringCorrupt},
		{"deleted descending", func(f *fileJSON) { f.Deleted = []uint32{8, 7} }, ErrKeyringCorrupt},
		{"deleted is a key", func(f *fileJSON) { f.Deleted = []uint32{f.Keys[0].ID} }, ErrKeyringCorrupt},
		{"too many deleted", func(f *fileJSON) {
			f.Deleted = nil
			for i := range MaxDeleted + 1 {
				f.Deleted = append(f.Deleted, uint32(i))
			}
		}, ErrKeyringCorrupt},
		{"version 0", func(f *fileJSON) { f.Version = 0 }, ErrKeyringCorrupt},
		{"no keyset", func(f *fileJSON) { f.Keyset = "" }, ErrKeyringCorrupt},
		{"both keysets", func(f *fileJSON) { f.CleartextKeyset = f.Keyset }, ErrKeyringCorrupt},
		{"keyset moved to cleartext", func(f *fileJSON) { f.CleartextKeyset, f.Keyset = f.Keyset, "" }, ErrKeyringCorrupt},
		{"keyset not base64", func(f *fileJSON) { f.Keyset = "*" + f.Keyset[1:] }, ErrKeyringCorrupt},
		{"keyset not a proto", func(f *fileJSON) { f.Keyset = b64([]byte{0xff, 0xff, 0xff}) }, ErrKeyringCorrupt},
		{"keyset empty proto", func(f *fileJSON) { f.Keyset = b64([]byte{0x08, 0x01}) }, ErrKeyringCorrupt},
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			_, err := Load(bytes.NewReader(editFile(t, data, e.edit)), m)
			wantErr(t, "Load", err, e.want)
		})
	}
	// The same decode and encode without an edit loads: the edits, not
	// the re-encoding, make the loads fail.
	if _, err := Load(bytes.NewReader(editFile(t, data, func(*fileJSON) {})), m); err != nil {
		t.Fatalf("Load of a re-encoded file: %v", err)
	}
	// A time written with another offset is the same instant: it loads,
	// and comes back in UTC.
	shifted := editFile(t, data, func(f *fileJSON) {
		f.Keys[0].Created = f.Keys[0].Created.In(time.FixedZone("x", 2*3600))
	})
	if !bytes.Contains(shifted, []byte("+02:00")) {
		t.Fatalf("offset not written")
	}
	back, err := Load(bytes.NewReader(shifted), m)
	if err != nil {
		t.Fatalf("Load with a time in another offset: %v", err)
	}
	sameKeyring(t, k, back)
}

func TestLoadSyntax(t *testing.T) {
	m := testMaster(t)
	data := mustSave(t, mustGenerate(t), m)
	trimmed := bytes.TrimSpace(data)
	cases := map[string][]byte{
		"empty":            nil,
		"null":             []byte("null"),
		"array":            []byte("[]"),
		"empty object":     []byte("{}"),
		"trailing data":    append(bytes.Clone(trimmed), []byte(" {}")...),
		"trailing garbage": append(bytes.Clone(trimmed), 'x'),
		"unknown field":    bytes.Replace(data, []byte(`"version"`), []byte(`"extra": 1, "version"`), 1),
		"id negative":      bytes.Replace(data, []byte(`"id": `), []byte(`"id": -`), 1),
		"status number":    editStatusRaw(data, `3`),
		"status unknown":   editStatusRaw(data, `"enabled"`),
		"oversized":        append(bytes.Clone(data), bytes.Repeat([]byte(" "), maxFileSize)...),
	}
	for name, c := range cases {
		_, err := Load(bytes.NewReader(c), m)
		wantErr(t, name, err, ErrKeyringCorrupt)
		if err != nil && bytes.Contains([]byte(err.Error()), []byte(strings.Split(string(data), `"keyset": "`)[1][:20])) {
			t.Fatalf("%s: error shows keyset content", name)
		}
	}
	// Non-canonical base64 (padding bits set) is refused, not silently
	// accepted as the same keyset.
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	raw, err := decodeBase64("keyset", f.Keyset)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw)%3 != 0 {
		s := []byte(f.Keyset)
		last := bytes.IndexByte(s, '=') - 1
		s[last] = nonCanonical(s[last])
		_, err := Load(bytes.NewReader(editFile(t, data, func(f *fileJSON) { f.Keyset = string(s) })), m)
		wantErr(t, "non-canonical base64", err, ErrKeyringCorrupt)
	}
}

// nonCanonical returns a base64 character that differs from c only in its
// low bits, which padding ignores.
func nonCanonical(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	return alphabet[strings.IndexByte(alphabet, c)|1]
}

func editStatusRaw(data []byte, status string) []byte {
	i := bytes.Index(data, []byte(`"status": `))
	j := i + len(`"status": `)
	k := j + bytes.IndexByte(data[j:], ',')
	return slicesConcat(data[:j], []byte(status), data[k:])
}

func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// keysetOf returns the cleartext keyset proto of a fresh keyset with one
// primary key made from template.
func keysetOf(t testing.TB, template *tinkpb.KeyTemplate) (*tinkpb.Keyset, uint32) {
	t.Helper()
	h, err := keyset.NewHandle(template)
	if err != nil {
		t.Fatal(err)
	}
	ks := insecurecleartextkeyset.KeysetMaterial(h)
	return ks, ks.GetPrimaryKeyId()
}

func TestLoadInconsistentKeyset(t *testing.T) {
	m := testMaster(t)
	now := time.Now().UTC()
	one := func(id uint32) []KeyInfo { return []KeyInfo{{ID: id, Status: Primary, Created: now}} }

	for name, tmpl := range map[string]*tinkpb.KeyTemplate{
		"RAW AES-256-GCM":          aead.AES256GCMNoPrefixKeyTemplate(),
		"AES-128-GCM":              aead.AES128GCMKeyTemplate(),
		"ChaCha20-Poly1305":        aead.ChaCha20Poly1305KeyTemplate(),
		"AES-256-GCM-SIV":          aead.AES256GCMSIVKeyTemplate(),
		"AES-256-GCM with CRUNCHY": crunchy(aead.AES256GCMKeyTemplate()),
	} {
		t.Run(name, func(t *testing.T) {
			ks, id := keysetOf(t, tmpl)
			_, err := Load(bytes.NewReader(sealFile(t, m, ks, one(id))), m)
			wantErr(t, "Load", err, ErrKeyringCorrupt)
			// The same through the cleartext loader.
			_, err = InsecureLoadCleartext(bytes.NewReader(cleartextFile(t, ks, one(id))))
			wantErr(t, "InsecureLoadCleartext", err, ErrKeyringCorrupt)
		})
	}

	k := fullKeyring(t)
	ks := insecurecleartextkeyset.KeysetMaterial(k.handle)
	good := k.keys
	edited := func(f func(keys []KeyInfo) []KeyInfo) []KeyInfo {
		return f(append([]KeyInfo(nil), good...))
	}
	cases := map[string][]KeyInfo{
		"key missing from metadata": edited(func(keys []KeyInfo) []KeyInfo {
			for i, ki := range keys {
				if ki.Status == Disabled {
					return append(keys[:i], keys[i+1:]...)
				}
			}
			return nil
		}),
		"extra key in metadata": edited(func(keys []KeyInfo) []KeyInfo {
			return append(keys, KeyInfo{ID: keys[0].ID ^ 0x5a5a, Status: Staged, Created: now})
		}),
		"id not in keyset": edited(func(keys []KeyInfo) []KeyInfo {
			for i := range keys {
				if keys[i].Status == Disabled {
					keys[i].ID ^= 0x5a5a
				}
			}
			return keys
		}),
		"disabled listed enabled": edited(func(keys []KeyInfo) []KeyInfo {
			for i := range keys {
				if keys[i].Status == Disabled {
					keys[i].Status = DecryptOnly
				}
			}
			return keys
		}),
		"enabled listed disabled": edited(func(keys []KeyInfo) []KeyInfo {
			for i := range keys {
				if keys[i].Status == Staged {
					keys[i].Status = Disabled
				}
			}
			return keys
		}),
		"primary moved": edited(func(keys []KeyInfo) []KeyInfo {
			for i := range keys {
				switch keys[i].Status {
				case Primary:
					keys[i].Status = DecryptOnly
				case Staged:
					keys[i].Status = Primary
				}
			}
			return keys
		}),
	}
	for name, keys := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(bytes.NewReader(sealFile(t, m, ks, keys)), m)
			wantErr(t, "Load", err, ErrKeyringCorrupt)
			_, err = InsecureLoadCleartext(bytes.NewReader(cleartextFile(t, ks, keys)))
			wantErr(t, "InsecureLoadCleartext", err, ErrKeyringCorrupt)
		})
	}
	// Control: the helpers make a loadable file from the real metadata.
	if _, err := Load(bytes.NewReader(sealFile(t, m, ks, good)), m); err != nil {
		t.Fatalf("sealFile control: %v", err)
	}
	if _, err := InsecureLoadCleartext(bytes.NewReader(cleartextFile(t, ks, good))); err != nil {
		t.Fatalf("cleartextFile control: %v", err)
	}
}

func crunchy(t *tinkpb.KeyTemplate) *tinkpb.KeyTemplate {
	t.OutputPrefixType = tinkpb.OutputPrefixType_CRUNCHY
	return t
}

func cleartextFile(t testing.TB, ks *tinkpb.Keyset, keys []KeyInfo) []byte {
	t.Helper()
	pt, err := proto.Marshal(ks)
	if err != nil {
		t.Fatal(err)
	}
	f := fileOfMetadata(testMetadata(keys))
	f.CleartextKeyset = b64(pt)
	data, err := encodeFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoadEmptyKeyset(t *testing.T) {
	m := testMaster(t)
	keys := []KeyInfo{{ID: 42, Status: Primary, Created: time.Now().UTC()}}
	_, err := Load(bytes.NewReader(sealFile(t, m, &tinkpb.Keyset{PrimaryKeyId: 42}, keys)), m)
	wantErr(t, "Load of an empty keyset", err, ErrEmptyKeyring)
	_, err = InsecureLoadCleartext(bytes.NewReader(cleartextFile(t, &tinkpb.Keyset{PrimaryKeyId: 42}, keys)))
	wantErr(t, "InsecureLoadCleartext of an empty keyset", err, ErrEmptyKeyring)
	_, err = Load(bytes.NewReader(sealFile(t, m, &tinkpb.Keyset{}, nil)), m)
	wantErr(t, "Load of empty metadata", err, ErrEmptyKeyring)
}

func TestCleartextRoundTrip(t *testing.T) {
	k := fullKeyring(t)
	var buf bytes.Buffer
	if err := InsecureSaveCleartext(&buf, k); err != nil {
		t.Fatal(err)
	}
	data := bytes.Clone(buf.Bytes())
	back, err := InsecureLoadCleartext(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("InsecureLoadCleartext: %v", err)
	}
	sameKeyring(t, k, back)

	// Each loader refuses the other's files.
	_, err = Load(bytes.NewReader(data), testMaster(t))
	wantErr(t, "Load of a cleartext file", err, ErrKeyringCorrupt)
	if !strings.Contains(err.Error(), "InsecureLoadCleartext") {
		t.Fatalf("error does not point to InsecureLoadCleartext: %v", err)
	}
	_, err = InsecureLoadCleartext(bytes.NewReader(mustSave(t, k, testMaster(t))))
	wantErr(t, "InsecureLoadCleartext of an encrypted file", err, ErrKeyringCorrupt)
}

// TestKeysetReadableByTink checks the format claim: Tink reads the keyset
// with the documented associated data.
func TestKeysetReadableByTink(t *testing.T) {
	m := testMaster(t)
	k := fullKeyring(t)
	var f fileJSON
	if err := json.Unmarshal(mustSave(t, k, m), &f); err != nil {
		t.Fatal(err)
	}
	enc, err := decodeBase64("keyset", f.Keyset)
	if err != nil {
		t.Fatal(err)
	}
	_, md, err := parseFile(mustSave(t, k, m))
	if err != nil {
		t.Fatal(err)
	}
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(enc)), m, metadataAD(md))
	if err != nil {
		t.Fatalf("Tink ReadWithAssociatedData: %v", err)
	}
	if err := checkConsistent(h, k.keys); err != nil {
		t.Fatalf("Tink's handle: %v", err)
	}
	if _, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(enc)), m, nil); err == nil {
		t.Fatalf("Tink read the keyset without the metadata as associated data")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestSaveWriteError(t *testing.T) {
	err := mustGenerate(t).Save(failWriter{}, testMaster(t))
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Save to a failing writer: %v", err)
	}
	err = InsecureSaveCleartext(failWriter{}, mustGenerate(t))
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("InsecureSaveCleartext to a failing writer: %v", err)
	}
}

func TestSaveFile(t *testing.T) {
	m := testMaster(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring.json")
	// A new file is private.
	k := fullKeyring(t)
	if err := k.SaveFile(path, m); err != nil {
		t.Fatalf("SaveFile: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("SaveFile wrote mode %04o, want 0600", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("SaveFile left %d entries in the directory: %v", len(entries), entries)
	}
	back, err := LoadFile(path, m)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	sameKeyring(t, k, back)

	// Saving again replaces the file.
	if _, err := back.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := back.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	again, err := LoadFile(path, m)
	if err != nil {
		t.Fatal(err)
	}
	sameKeyring(t, back, again)

	// A relative path in the current directory.
	t.Chdir(dir)
	if err := k.SaveFile("rel.json", m); err != nil {
		t.Fatalf("SaveFile(relative): %v", err)
	}
	if _, err := LoadFile("rel.json", m); err != nil {
		t.Fatalf("LoadFile(relative): %v", err)
	}

	// A missing directory fails and creates nothing.
	if err := k.SaveFile(filepath.Join(dir, "missing", "k.json"), m); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SaveFile into a missing directory: %v", err)
	}
	// A failing master key leaves the old file in place.
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.SaveFile(path, failingAEAD{}); err == nil {
		t.Fatalf("SaveFile with a failing master key succeeded")
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("a failed SaveFile changed the file")
	}
}

type failingAEAD struct{}

var errKMS = errors.New("kms unavailable")

func (failingAEAD) Encrypt(pt, ad []byte) ([]byte, error) { return nil, errKMS }
func (failingAEAD) Decrypt(ct, ad []byte) ([]byte, error) { return nil, errKMS }

func TestMasterKeyServiceErrorKeepsChain(t *testing.T) {
	err := mustGenerate(t).Save(io.Discard, failingAEAD{})
	wantErr(t, "Save with failing master", err, errKMS)
	data := mustSave(t, mustGenerate(t), testMaster(t))
	_, err = Load(bytes.NewReader(data), failingAEAD{})
	wantErr(t, "Load with failing master", err, errKMS)
	wantErr(t, "Load with failing master", err, ErrWrongMasterKey)
}

func TestLoadFilePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not checked on Windows")
	}
	m := testMaster(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring.json")
	k := mustGenerate(t)
	if err := k.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o666, 0o610, 0o601} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path, m)
		wantErr(t, fmt.Sprintf("LoadFile mode %04o", mode), err, ErrInsecurePermissions)
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error does not name the file: %v", err)
		}
		if _, err := LoadFile(path, m, AllowInsecurePermissions()); err != nil {
			t.Fatalf("LoadFile mode %04o with AllowInsecurePermissions: %v", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400, 0o700} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFile(path, m); err != nil {
			t.Fatalf("LoadFile mode %04o: %v", mode, err)
		}
	}

	_, err := LoadFile(dir, m)
	wantErr(t, "LoadFile of a directory", err, ErrKeyringCorrupt)
	_, err = LoadFile(filepath.Join(dir, "missing.json"), m)
	wantErr(t, "LoadFile of a missing file", err, os.ErrNotExist)
	_, err = LoadFile(path, nil)
	wantErr(t, "LoadFile with nil master", err, ErrNoMasterKey)

	// Errors of the content name the file too.
	if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFile(path, m)
	wantErr(t, "LoadFile of a bad file", err, ErrKeyringCorrupt)
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error does not name the file: %v", err)
	}
}
