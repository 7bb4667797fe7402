package keyring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"

	"github.com/accountvault/accountvault"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// The committed files of a keyring moving from AES-256-GCM to XAES-256-GCM,
// under testMasterKey:
//
//	testdata/keyring-v1-xaes.json            AES-256-GCM keys decrypt-only and
//	                                         disabled; XAES-256-GCM keys
//	                                         primary, staged and disabled
//	testdata/keyring-v1-xaes-cleartext.json  the same keyring, cleartext
//	testdata/keyring-v1-xaes-vectors.json    its expected metadata, each key's
//	                                         algorithm, and wrapped keys
//
// Regenerate them alone with
//
//	go test ./keyring -run TestGoldenXAES -update
//
// (-update on TestGoldenFiles rewrites the other golden files).
const (
	goldenXAES          = "testdata/keyring-v1-xaes.json"
	goldenXAESCleartext = "testdata/keyring-v1-xaes-cleartext.json"
	goldenXAESVectors   = "testdata/keyring-v1-xaes-vectors.json"
)

type goldenXAESFile struct {
	Keys       []fileKey         `json:"keys"`
	Algorithms map[string]string `json:"algorithms"` // key id -> Algorithm.String()
	Wraps      []goldenWrap      `json:"wraps"`
}

func TestGoldenXAES(t *testing.T) {
	if *update {
		writeGoldenXAES(t)
	}
	m := testMaster(t)
	k, err := LoadFile(goldenXAES, m, AllowInsecurePermissions()) // git does not keep 0600
	if err != nil {
		t.Fatalf("Load %s: %v", goldenXAES, err)
	}
	data, err := os.ReadFile(goldenXAESCleartext)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := InsecureLoadCleartext(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("InsecureLoadCleartext %s: %v", goldenXAESCleartext, err)
	}
	sameKeyring(t, k, kc)

	var g goldenXAESFile
	data, err = os.ReadFile(goldenXAESVectors)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	want, err := checkKeys(g.Keys, 1, 0) // a version 1 file: generation 0
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Keys(); !slices.Equal(got, want) {
		t.Fatalf("golden keyring keys:\n got %v\nwant %v", got, want)
	}
	seen := map[Algorithm]int{}
	for _, ki := range k.Keys() {
		alg, ok := k.Algorithm(ki.ID)
		if !ok || alg.String() != g.Algorithms[strconv.FormatUint(uint64(ki.ID), 10)] {
			t.Errorf("key %d is %v, want %s", ki.ID, alg, g.Algorithms[strconv.FormatUint(uint64(ki.ID), 10)])
		}
		seen[alg]++
	}
	if seen[AES256GCM] == 0 || seen[XAES256GCM] == 0 {
		t.Fatalf("golden keyring holds %v", seen)
	}
	if alg, _ := k.Algorithm(k.Primary()); alg != XAES256GCM {
		t.Fatalf("golden primary is %v", alg)
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
	// Saved again by this version, it loads to the same keyring.
	back, err := Load(bytes.NewReader(mustSave(t, k, m)), m)
	if err != nil {
		t.Fatalf("Load of the re-saved golden keyring: %v", err)
	}
	sameKeyring(t, k, back)
}

// writeGoldenXAES regenerates the files above under -update.
func writeGoldenXAES(t *testing.T) {
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
	promote := func(k *Keyring, id uint32) {
		if err := k.Promote(id); err != nil {
			t.Fatal(err)
		}
	}
	disable := func(k *Keyring, id uint32) {
		if err := k.Disable(id); err != nil {
			t.Fatal(err)
		}
	}

	k := legacyGenerate(t)
	aesDisabled := k.Primary()
	_, aw := wrap(mustKEK(t, k), "", dek(1), "v1|accounts|access_token|github|1|user-1")
	wraps[len(wraps)-1] = goldenWrap{Comment: "wrapped by an AES-256-GCM key since disabled", KeyID: aesDisabled, AD: "v1|accounts|access_token|github|1|user-1", Wrapped: b64(aw), Want: "unknown-key"}
	aesOld := stageAESGCM(t, k)
	promote(k, aesOld)
	_, aesW := wrap(mustKEK(t, k), "wrapped by an AES-256-GCM key, now decrypt-only", dek(2), "v1|accounts|refresh_token|google|2|user-2")
	xaesPrimary := mustStage(t, k)
	promote(k, xaesPrimary)
	disable(k, aesDisabled)
	id, w := wrap(mustKEK(t, k), "wrapped by the XAES-256-GCM primary (72 bytes)", dek(3), "v1|accounts|id_token|apple|3|user-3")
	last := func(b []byte) []byte { c := bytes.Clone(b); c[len(c)-1] ^= 1; return c }
	wraps = append(wraps,
		goldenWrap{Comment: "XAES-256-GCM primary, other associated data", KeyID: id, AD: "v1|accounts|id_token|apple|3|user-4", Wrapped: b64(w), Want: "decrypt"},
		goldenWrap{Comment: "XAES-256-GCM primary, salt byte flipped", KeyID: id, AD: "v1|accounts|id_token|apple|3|user-3", Wrapped: b64(append([]byte{w[0] ^ 1}, w[1:]...)), Want: "decrypt"},
		goldenWrap{Comment: "XAES-256-GCM primary, last byte flipped", KeyID: id, AD: "v1|accounts|id_token|apple|3|user-3", Wrapped: b64(last(w)), Want: "decrypt"},
		goldenWrap{Comment: "XAES-256-GCM wrap under the AES-256-GCM key's id", KeyID: aesOld, AD: "v1|accounts|id_token|apple|3|user-3", Wrapped: b64(w), Want: "decrypt"},
		goldenWrap{Comment: "AES-256-GCM wrap under the XAES-256-GCM key's id", KeyID: id, AD: "v1|accounts|refresh_token|google|2|user-2", Wrapped: b64(aesW), Want: "decrypt"},
	)
	staged := mustStage(t, k)
	c := k.Clone()
	promote(c, staged)
	wrap(mustKEK(t, c), "wrapped by the staged XAES-256-GCM key (by a replica that promoted it)", dek(4), "v1|accounts|access_token|apple|4|user-4")
	xaesDisabled := mustStage(t, k)
	c = k.Clone()
	promote(c, xaesDisabled)
	_, w = wrap(mustKEK(t, c), "", dek(5), "v1|accounts|access_token|apple|5|user-5")
	wraps[len(wraps)-1] = goldenWrap{Comment: "wrapped by an XAES-256-GCM key since disabled", KeyID: xaesDisabled, AD: "v1|accounts|access_token|apple|5|user-5", Wrapped: b64(w), Want: "unknown-key"}
	disable(k, xaesDisabled)

	algs := map[string]string{}
	for _, ki := range k.Keys() {
		alg, _ := k.Algorithm(ki.ID)
		algs[strconv.FormatUint(uint64(ki.ID), 10)] = alg.String()
	}
	good := mustSave(t, k, m)
	var cleartext bytes.Buffer
	if err := InsecureSaveCleartext(&cleartext, k); err != nil {
		t.Fatal(err)
	}
	vectors, err := json.MarshalIndent(goldenXAESFile{Keys: fileKeys(k.keys), Algorithms: algs, Wraps: wraps}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile := func(path string, data []byte) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(goldenXAES, good)
	writeFile(goldenXAESCleartext, cleartext.Bytes())
	writeFile(goldenXAESVectors, append(vectors, '\n'))

	// Fuzz seeds: the files above, and XAES-256-GCM keys the loaders refuse.
	seed := func(target, name string, data []byte) {
		writeFile(filepath.Join("testdata/fuzz", target, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data))
	}
	seed("FuzzLoad", "keyring-v1-xaes", good)
	seed("FuzzInsecureLoadCleartext", "keyring-v1-xaes-cleartext", cleartext.Bytes())
	now := k.keys[0].Created
	for name, tmpl := range map[string]*tinkpb.KeyTemplate{
		"xaes-raw-key":    aead.XAES256GCM192BitNonceNoPrefixKeyTemplate(),
		"xaes-160bit-key": aead.XAES256GCM160BitNonceKeyTemplate(),
		"xaes-key":        aead.XAES256GCM192BitNonceKeyTemplate(),
	} {
		kks, id := keysetOf(t, tmpl)
		seed("FuzzInsecureLoadCleartext", name, cleartextFile(t, kks, []KeyInfo{{ID: id, Status: Primary, Created: now}}))
	}
	t.Logf("rewrote %s, %s, %s and their fuzz seeds", goldenXAES, goldenXAESCleartext, goldenXAESVectors)
}
