package keyring

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/xaesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/key"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/secretdata"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// kekAlgorithms are the algorithms a keyring's keys may have, each with a
// function that returns a new keyring whose one key, the primary, has it.
var kekAlgorithms = []struct {
	alg      Algorithm
	generate func(testing.TB) *Keyring
}{
	{AES256GCM, legacyGenerate},
	{XAES256GCM, mustGenerate},
}

// forEachAlgorithm runs f as a subtest for each algorithm.
func forEachAlgorithm(t *testing.T, f func(t *testing.T, alg Algorithm, generate func(testing.TB) *Keyring)) {
	for _, a := range kekAlgorithms {
		t.Run(a.alg.String(), func(t *testing.T) { f(t, a.alg, a.generate) })
	}
}

// legacyGenerate returns a keyring as Generate made it before XAES-256-GCM:
// one AES-256-GCM primary key.
func legacyGenerate(t testing.TB) *Keyring {
	t.Helper()
	k := new(Keyring)
	err := k.edit(func(e *editor) error {
		id, err := addAESGCM(e)
		if err != nil {
			return err
		}
		return e.promote(id)
	})
	if err != nil {
		t.Fatalf("legacyGenerate: %v", err)
	}
	if alg, ok := k.Algorithm(k.Primary()); !ok || alg != AES256GCM {
		t.Fatalf("legacyGenerate made a %v key", alg)
	}
	return k
}

// stageAESGCM stages an AES-256-GCM key in k, as Stage did before
// XAES-256-GCM, and returns its id.
func stageAESGCM(t testing.TB, k *Keyring) uint32 {
	t.Helper()
	var id uint32
	err := k.editExisting(func(e *editor) (err error) {
		id, err = addAESGCM(e)
		return err
	})
	if err != nil {
		t.Fatalf("stageAESGCM: %v", err)
	}
	return id
}

func addAESGCM(e *editor) (uint32, error) {
	id, err := e.m.AddNewKeyFromParameters(aesGCMParameters)
	if err != nil {
		return 0, err
	}
	e.keys = append(e.keys, KeyInfo{ID: id, Status: Staged, Created: now(), Since: e.generation})
	e.changed = true
	return id, nil
}

func mustStage(t testing.TB, k *Keyring) uint32 {
	t.Helper()
	id, err := k.Stage()
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	return id
}

// TestNewKeysAreXAES: every key Generate, Stage and Rotate make is an
// XAES-256-GCM key with a 12-byte salt and TINK prefix, the key of tink-go's
// aead.XAES256GCM192BitNonceKeyTemplate, also in a keyring that holds
// AES-256-GCM keys; and it wraps a 32-byte key into 72 bytes.
func TestNewKeysAreXAES(t *testing.T) {
	tmpl, err := keyset.NewHandle(aead.XAES256GCM192BitNonceKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	entry, err := tmpl.Entry(0)
	if err != nil {
		t.Fatal(err)
	}
	if !entry.Key().Parameters().Equal(kekParameters) {
		t.Fatalf("new keys' parameters differ from aead.XAES256GCM192BitNonceKeyTemplate's")
	}

	for _, a := range kekAlgorithms {
		k := a.generate(t)
		first := k.Primary()
		staged := mustStage(t, k)
		rotated, err := k.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		newIDs := []uint32{staged, rotated}
		if a.alg == XAES256GCM {
			newIDs = append(newIDs, first)
		}
		s := mustKEK(t, k)
		for _, id := range newIDs {
			if alg, ok := k.Algorithm(id); !ok || alg != XAES256GCM {
				t.Errorf("%v keyring: new key %d is %v (%t)", a.alg, id, alg, ok)
			}
			if alg, ok := s.Algorithm(id); !ok || alg != XAES256GCM {
				t.Errorf("%v keyring: KEK says new key %d is %v (%t)", a.alg, id, alg, ok)
			}
		}
		if alg, _ := k.Algorithm(first); alg != a.alg {
			t.Errorf("%v keyring: first key became %v", a.alg, alg)
		}
		for i := range k.handle.Len() {
			entry, err := k.handle.Entry(i)
			if err != nil {
				t.Fatal(err)
			}
			if entry.KeyID() == first && a.alg == AES256GCM {
				continue
			}
			key, ok := entry.Key().(*xaesgcm.Key)
			if !ok {
				t.Fatalf("key %d is a %T", entry.KeyID(), entry.Key())
			}
			p := key.Parameters().(*xaesgcm.Parameters)
			if p.Variant() != xaesgcm.VariantTink || p.SaltSizeInBytes() != 12 {
				t.Errorf("key %d: variant %v, salt %d bytes", entry.KeyID(), p.Variant(), p.SaltSizeInBytes())
			}
			if id, required := key.IDRequirement(); !required || id != entry.KeyID() {
				t.Errorf("key %d: id requirement %d, %t", entry.KeyID(), id, required)
			}
		}
		id, w, err := s.Wrap(testDEK, testAD)
		if err != nil || id != rotated || len(w) != 72 {
			t.Errorf("%v keyring: Wrap = key %d, %d bytes, %v; want key %d, 72 bytes", a.alg, id, len(w), err, rotated)
		}
	}
	if _, ok := new(Keyring).Algorithm(1); ok {
		t.Error("the zero Keyring has a key 1")
	}
	if _, ok := mustGenerate(t).Algorithm(0); ok {
		t.Error("Algorithm of a key the keyring does not hold")
	}
	if AES256GCM.String() != "AES-256-GCM" || XAES256GCM.String() != "XAES-256-GCM" || Algorithm(0).String() != "Algorithm(0)" {
		t.Error("Algorithm.String")
	}
	if AES256GCM.WrapOverhead() != 28 || XAES256GCM.WrapOverhead() != 40 || Algorithm(9).WrapOverhead() != 0 || MaxWrapOverhead != 40 {
		t.Error("wrap overheads")
	}
}

// TestXAESSpecVectors checks that a wrapped key is exactly the
// XAES-256-GCM nonce || ciphertext || tag of the specification
// (c2sp.org/XAES-256-GCM, "Test vectors"), Tink's salt being the first 12
// bytes of the nonce: an implementation of the specification unwraps what
// the keyring wraps.
func TestXAESSpecVectors(t *testing.T) {
	for _, v := range []struct{ key, ad, ct string }{
		{"0101010101010101010101010101010101010101010101010101010101010101", "", "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271"},
		{"0303030303030303030303030303030303030303030303030303030303030303", "c2sp.org/XAES-256-GCM", "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d"},
	} {
		k := keyringOfKey(t, 0x2A2B2C2D, xaesKey(t, mustHex(t, v.key), 0x2A2B2C2D))
		wrapped := append([]byte("ABCDEFGHIJKLMNOPQRSTUVWX"), mustHex(t, v.ct)...)
		got, err := mustKEK(t, k).Unwrap(0x2A2B2C2D, wrapped, []byte(v.ad))
		if err != nil || string(got) != "XAES-256-GCM" {
			t.Errorf("key %s…: Unwrap of the specification's vector: %q, %v", v.key[:4], got, err)
		}
	}
}

// keyringOfKey returns a keyring holding key, with id id, as its primary.
func keyringOfKey(t *testing.T, id uint32, k key.Key) *Keyring {
	t.Helper()
	m := keyset.NewManager()
	if _, err := m.AddKey(k); err != nil {
		t.Fatal(err)
	}
	if err := m.SetPrimary(id); err != nil {
		t.Fatal(err)
	}
	h, err := m.Handle()
	if err != nil {
		t.Fatal(err)
	}
	keys := []KeyInfo{{ID: id, Status: Primary, Created: now()}}
	if err := checkConsistent(h, keys); err != nil {
		t.Fatal(err)
	}
	return &Keyring{handle: h, keys: keys}
}

func xaesKey(t *testing.T, raw []byte, id uint32) *xaesgcm.Key {
	t.Helper()
	k, err := xaesgcm.NewKey(secretdata.NewBytesFromData(raw, insecuresecretdataaccess.Token{}), id, xaesGCMParameters)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoadRefusesOtherXAESKeys: XAES-256-GCM keys that the keyring never
// makes (RAW prefix, 8-byte salt) are refused like other foreign keys.
func TestLoadRefusesOtherXAESKeys(t *testing.T) {
	m := testMaster(t)
	for name, tmpl := range map[string]*tinkpb.KeyTemplate{
		"RAW XAES-256-GCM":                    aead.XAES256GCM192BitNonceNoPrefixKeyTemplate(),
		"XAES-256-GCM with 160-bit nonce":     aead.XAES256GCM160BitNonceKeyTemplate(),
		"XChaCha20-Poly1305 (192-bit nonces)": aead.XChaCha20Poly1305KeyTemplate(),
	} {
		t.Run(name, func(t *testing.T) {
			ks, id := keysetOf(t, tmpl)
			one := []KeyInfo{{ID: id, Status: Primary, Created: now()}}
			_, err := Load(bytes.NewReader(sealFile(t, m, ks, one)), m)
			wantErr(t, "Load", err, ErrKeyringCorrupt)
			_, err = InsecureLoadCleartext(bytes.NewReader(cleartextFile(t, ks, one)))
			wantErr(t, "InsecureLoadCleartext", err, ErrKeyringCorrupt)
		})
	}
	// Control: the template of new keys loads.
	ks, id := keysetOf(t, aead.XAES256GCM192BitNonceKeyTemplate())
	one := []KeyInfo{{ID: id, Status: Primary, Created: now()}}
	if _, err := Load(bytes.NewReader(sealFile(t, m, ks, one)), m); err != nil {
		t.Fatalf("Load of an aead.XAES256GCM192BitNonceKeyTemplate key: %v", err)
	}
}

// mixedKeyring returns a keyring that was AES-256-GCM and is moving to
// XAES-256-GCM, with both algorithms in every status: an AES-256-GCM key
// decrypt-only, one disabled, one primary; XAES-256-GCM keys staged,
// decrypt-only and disabled.
func mixedKeyring(t testing.TB) (k *Keyring, aesPrimary uint32) {
	t.Helper()
	k = legacyGenerate(t)
	aesOld := k.Primary()
	aesDisabled := stageAESGCM(t, k)
	xaesOld := mustStage(t, k)
	xaesDisabled := mustStage(t, k)
	aesPrimary = stageAESGCM(t, k)
	mustStage(t, k) // staged XAES
	for _, step := range []func() error{
		func() error { return k.Promote(xaesOld) },
		func() error { return k.Promote(aesPrimary) }, // a rollback of the algorithm: still allowed
		func() error { return k.Disable(aesDisabled) },
		func() error { return k.Disable(xaesDisabled) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[Algorithm]map[Status]bool{AES256GCM: {}, XAES256GCM: {}}
	for _, ki := range k.Keys() {
		alg, _ := k.Algorithm(ki.ID)
		seen[alg][ki.Status] = true
	}
	if len(seen[AES256GCM]) != 3 || len(seen[XAES256GCM]) != 3 || statusOf(k, aesOld) != DecryptOnly {
		t.Fatalf("mixedKeyring: %v", seen)
	}
	return k, aesPrimary
}

// TestMixedKeyringRoundTrip: a keyring holding both algorithms saves,
// loads (encrypted and cleartext) and saves again to the same keys, and
// Tink reads its keyset.
func TestMixedKeyringRoundTrip(t *testing.T) {
	k, _ := mixedKeyring(t)
	m := testMaster(t)
	data := mustSave(t, k, m)
	back, err := Load(bytes.NewReader(data), m)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	sameKeyring(t, k, back)
	for _, ki := range k.Keys() {
		a, _ := k.Algorithm(ki.ID)
		if b, ok := back.Algorithm(ki.ID); !ok || a != b {
			t.Errorf("key %d: %v, loaded as %v", ki.ID, a, b)
		}
	}
	again, err := Load(bytes.NewReader(mustSave(t, back, m)), m)
	if err != nil {
		t.Fatalf("Load of the re-saved keyring: %v", err)
	}
	sameKeyring(t, k, again)

	var buf bytes.Buffer
	if err := InsecureSaveCleartext(&buf, k); err != nil {
		t.Fatal(err)
	}
	clear, err := InsecureLoadCleartext(&buf)
	if err != nil {
		t.Fatalf("InsecureLoadCleartext: %v", err)
	}
	sameKeyring(t, k, clear)
}

// TestKEKAlgorithmPerKey: a mixed KEK unwraps each key with its own
// algorithm only. A key wrapped under one key and presented under the id of
// a key of the other algorithm is ErrDecrypt, as is an XAES-256-GCM wrap cut
// to the length of an AES-256-GCM one.
func TestKEKAlgorithmPerKey(t *testing.T) {
	k, aesPrimary := mixedKeyring(t)
	s := mustKEK(t, k)
	if alg, _ := s.Algorithm(s.PrimaryID()); alg != AES256GCM || s.PrimaryID() != aesPrimary {
		t.Fatalf("primary %d is %v", s.PrimaryID(), alg)
	}
	aesID, aesW, err := s.Wrap(testDEK, testAD)
	if err != nil {
		t.Fatal(err)
	}
	var xaesID uint32
	for _, id := range s.KeyIDs() {
		if alg, _ := s.Algorithm(id); alg == XAES256GCM {
			xaesID = id
		}
	}
	c := k.Clone()
	if err := c.Promote(xaesID); err != nil {
		t.Fatal(err)
	}
	_, xaesW, err := mustKEK(t, c).Wrap(testDEK, testAD)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		name    string
		id      uint32
		wrapped []byte
	}{
		{"AES-256-GCM wrap under an XAES-256-GCM id", xaesID, aesW},
		{"XAES-256-GCM wrap under an AES-256-GCM id", aesID, xaesW},
		{"XAES-256-GCM wrap without its salt", xaesID, xaesW[12:]},
		{"XAES-256-GCM wrap without its salt, under an AES-256-GCM id", aesID, xaesW[12:]},
	} {
		_, err := s.Unwrap(w.id, w.wrapped, testAD)
		wantErr(t, w.name, err, accountvault.ErrDecrypt)
	}
	for _, w := range []struct {
		id      uint32
		wrapped []byte
	}{{aesID, aesW}, {xaesID, xaesW}} {
		if got, err := s.Unwrap(w.id, w.wrapped, testAD); err != nil || !bytes.Equal(got, testDEK) {
			t.Fatalf("Unwrap under key %d: %v", w.id, err)
		}
	}
	// The prefix Unwrap adds back is the one Tink expects for either
	// algorithm: a Tink keyset primitive on the whole keyset agrees.
	p, err := aead.New(k.handle)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		id      uint32
		wrapped []byte
	}{{aesID, aesW}, {xaesID, xaesW}} {
		ct := append(binary.BigEndian.AppendUint32([]byte{0x01}, w.id), w.wrapped...)
		if got, err := p.Decrypt(ct, testAD); err != nil || !bytes.Equal(got, testDEK) {
			t.Fatalf("Tink keyset primitive, key %d: %v", w.id, err)
		}
	}
}

// TestMixedKeyringRotation is the move of an existing keyring to
// XAES-256-GCM, through package envelope as the store does it: rows sealed
// under an AES-256-GCM primary; an XAES-256-GCM key staged (the primary
// still wraps, the staged key already unwraps what a replica that promoted
// it wraps), promoted (new rows get 72-byte wrapped keys; every old row
// still opens), saved and loaded, rows rewrapped with envelope.Rewrap onto
// it, and the AES-256-GCM key disabled: every rewrapped row opens without
// it. A tampered XAES-256-GCM wrapped key fails with accountvault.ErrDecrypt.
func TestMixedKeyringRotation(t *testing.T) {
	k := legacyGenerate(t)
	aesID := k.Primary()
	place := func(i int) envelope.Place {
		return envelope.Place{Table: "accounts", UserID: fmt.Sprintf("user-%d", i), ProviderID: "github", AccountID: fmt.Sprint(1000 + i)}
	}
	row := func(i int) envelope.Fields {
		return envelope.Fields{fmt.Appendf(nil, "gho_access_%d", i), fmt.Appendf(nil, "ghr_refresh_%d", i), nil}
	}
	type sealedRow struct {
		i      int
		sealed envelope.Fields
	}
	var rows []sealedRow
	seal := func(kek *KEK, i int, wantKey uint32, wantWrapped int) sealedRow {
		t.Helper()
		sealed, err := envelope.Seal(kek, place(i), row(i))
		if err != nil {
			t.Fatal(err)
		}
		for c, v := range sealed[:2] {
			if id, err := envelope.KeyID(v); err != nil || id != wantKey || int(v[8]) != wantWrapped {
				t.Fatalf("row %d column %d: key %d, %d-byte wrapped key, %v; want key %d, %d bytes", i, c, id, v[8], err, wantKey, wantWrapped)
			}
		}
		r := sealedRow{i, sealed}
		rows = append(rows, r)
		return r
	}
	openAll := func(kek *KEK, what string) {
		t.Helper()
		for _, r := range rows {
			opened, err := envelope.Open(kek, place(r.i), r.sealed)
			if err != nil {
				t.Fatalf("%s: row %d: %v", what, r.i, err)
			}
			if want := row(r.i); !bytes.Equal(opened[0], want[0]) || !bytes.Equal(opened[1], want[1]) || opened[2] != nil {
				t.Fatalf("%s: row %d opened to other tokens", what, r.i)
			}
		}
	}

	kekAES := mustKEK(t, k)
	for i := range 3 {
		seal(kekAES, i, aesID, 60)
	}

	// Stage: the new key is XAES-256-GCM; the AES-256-GCM primary still
	// wraps.
	xaesID := mustStage(t, k)
	if alg, _ := k.Algorithm(xaesID); alg != XAES256GCM {
		t.Fatalf("staged key is %v", alg)
	}
	kekStaged := mustKEK(t, k)
	seal(kekStaged, 3, aesID, 60)
	promotedElsewhere := k.Clone()
	if err := promotedElsewhere.Promote(xaesID); err != nil {
		t.Fatal(err)
	}
	seal(mustKEK(t, promotedElsewhere), 4, xaesID, 72)
	openAll(kekStaged, "staged XAES-256-GCM key, before promotion")

	// Promote; save and load the mixed keyring.
	if err := k.Promote(xaesID); err != nil {
		t.Fatal(err)
	}
	m := testMaster(t)
	loaded, err := Load(bytes.NewReader(mustSave(t, k, m)), m)
	if err != nil {
		t.Fatalf("Load of the mixed keyring: %v", err)
	}
	sameKeyring(t, k, loaded)
	kekPromoted := mustKEK(t, loaded)
	seal(kekPromoted, 5, xaesID, 72)
	openAll(kekPromoted, "after promotion")
	// A replica still on the keyring before the stage opens the rows
	// wrapped by the AES-256-GCM key, and fails cleanly on the others.
	for _, r := range rows {
		_, err := envelope.Open(kekAES, place(r.i), r.sealed)
		if onXAES := r.i >= 4; onXAES != errors.Is(err, accountvault.ErrUnknownKey) || (!onXAES && err != nil) {
			t.Fatalf("keyring before the stage: row %d: %v", r.i, err)
		}
	}

	// Rewrap every row onto the XAES-256-GCM primary.
	for n, r := range rows {
		out, changed, err := envelope.Rewrap(kekPromoted, place(r.i), r.sealed)
		if err != nil {
			t.Fatalf("Rewrap row %d: %v", r.i, err)
		}
		wasAES := r.i <= 3
		if changed != wasAES {
			t.Fatalf("Rewrap row %d: changed = %t", r.i, changed)
		}
		for c, v := range out[:2] {
			if id, _ := envelope.KeyID(v); id != xaesID || v[8] != 72 {
				t.Fatalf("rewrapped row %d column %d: key %d, wlen %d", r.i, c, id, v[8])
			}
			old := r.sealed[c]
			if !bytes.Equal(v[9+72:], old[9+int(old[8]):]) {
				t.Fatalf("rewrap of row %d changed the token's nonce or ciphertext", r.i)
			}
		}
		rows[n].sealed = out
	}

	// Disable the AES-256-GCM key: everything still opens.
	if err := loaded.Disable(aesID); err != nil {
		t.Fatal(err)
	}
	kekXAES := mustKEK(t, loaded)
	if kekXAES.Has(aesID) {
		t.Fatal("disabled key still in the KEK")
	}
	openAll(kekXAES, "XAES-256-GCM key alone, after rewrap")

	// Tampering with an XAES-256-GCM wrapped key: every byte, each bit
	// position once.
	r := rows[len(rows)-1]
	for i := 9; i < 9+72; i++ {
		bad := r.sealed
		bad[0] = bytes.Clone(r.sealed[0])
		bad[0][i] ^= 1 << (i % 8)
		_, err := envelope.Open(kekXAES, place(r.i), bad)
		if !errors.Is(err, accountvault.ErrDecrypt) || errors.Is(err, accountvault.ErrUnknownKey) {
			t.Fatalf("wrapped key byte %d flipped: %v, want ErrDecrypt", i-9, err)
		}
		var ce *envelope.ColumnError
		if !errors.As(err, &ce) || ce.Column != envelope.AccessToken {
			t.Fatalf("wrapped key byte %d flipped: %v names no access_token", i-9, err)
		}
	}
}
