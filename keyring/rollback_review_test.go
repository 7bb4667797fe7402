package keyring

// Adversarial review of keyring rollback (review of 56a5e35..f7390d1,
// item 3). Each test here fails on the reviewed code.

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tink-crypto/tink-go/v2/tink"

	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// saveV1 writes k as a version 1 file (no generation, no per-key
// generation, no deleted ids), authenticated exactly as version 1 files
// were: what an accountvault release before generations saved.
func saveV1(t *testing.T, k *Keyring, master tink.AEAD) []byte {
	t.Helper()
	pt, err := k.serializeKeyset()
	if err != nil {
		t.Fatal(err)
	}
	keys := slices.Clone(k.keys)
	for i := range keys {
		keys[i].Since = 0
	}
	md := &metadata{version: 1, keys: keys}
	ct, err := master.Encrypt(pt, metadataAD(md))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := proto.Marshal(&tinkpb.EncryptedKeyset{EncryptedKeyset: ct})
	if err != nil {
		t.Fatal(err)
	}
	fk := fileKeys(keys)
	for i := range fk {
		fk[i].Since = nil
	}
	data, err := encodeFile(&fileJSON{Version: 1, Keyset: b64(enc), Keys: fk})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestReviewV1RollbackToRetiredPrimary: a deployment still on version 1
// files (every file saved before generations, so every one of them loads
// at generation 0, and the database record is 0 too). The history:
// old = {K1 primary, K2 staged}, then K2 promoted and K1 retired, current
// = {K2 primary}. A keyring-file writer puts back the authentic old copy.
// CheckSuccessor accepts it (generation 0 is exempt from the
// same-generation check, K2 is still enabled as staged, and version 1
// recorded no deletion), so a watching replica reloads it and seals every
// new token under the retired key K1 again; the store's database record
// (0) does not refuse it either.
func TestReviewV1RollbackToRetiredPrimary(t *testing.T) {
	m := testMaster(t)
	k := legacyGenerate(t)
	k1 := k.Primary()
	k2 := stageAESGCM(t, k)
	oldFile := saveV1(t, k, m)
	if err := k.Promote(k2); err != nil {
		t.Fatal(err)
	}
	if err := k.Disable(k1); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete(k1); err != nil {
		t.Fatal(err)
	}
	curFile := saveV1(t, k, m)

	cur, err := Load(bytes.NewReader(curFile), m)
	if err != nil {
		t.Fatalf("loading the current v1 file: %v", err)
	}
	old, err := Load(bytes.NewReader(oldFile), m)
	if err != nil {
		t.Fatalf("loading the old v1 file: %v", err)
	}
	if cur.Primary() != k2 || old.Primary() != k1 || cur.Generation() != 0 || old.Generation() != 0 {
		t.Fatalf("setup: current primary %d gen %d, old primary %d gen %d", cur.Primary(), cur.Generation(), old.Primary(), old.Generation())
	}
	err = CheckSuccessor(mustKEK(t, cur), mustKEK(t, old))
	if !errors.Is(err, ErrRollback) {
		t.Fatalf("CheckSuccessor(current v1 {K2 primary}, old v1 copy {retired K1 primary, K2 staged}) = %v, want ErrRollback: "+
			"a replica would go back to sealing under the retired key", err)
	}
}
