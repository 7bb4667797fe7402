package keyring

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/secretdata"
)

// TestKeyringGeneration: every edit that changes the keyring increments
// its generation once, no-op edits and failed edits do not, and each
// changed key records the generation of its status.
func TestKeyringGeneration(t *testing.T) {
	k := mustGenerate(t)
	want := uint64(1)
	step := func(what string, changes bool, err error) {
		t.Helper()
		if changes {
			want++
		}
		if err != nil && changes {
			t.Fatalf("%s: %v", what, err)
		}
		if got := k.Generation(); got != want {
			t.Fatalf("after %s: generation %d, want %d", what, got, want)
		}
	}
	step("Generate", false, nil)
	first := k.Primary()
	if ki := k.Keys()[0]; ki.Since != 1 {
		t.Fatalf("Generate: key since %d, want 1", ki.Since)
	}
	staged, err := k.Stage()
	step("Stage", true, err)
	if s := sinceOf(k, staged); s != 2 {
		t.Fatalf("staged key since %d, want 2", s)
	}
	step("Promote(primary)", false, k.Promote(first))
	step("Promote", true, k.Promote(staged))
	if sinceOf(k, staged) != 3 || sinceOf(k, first) != 3 {
		t.Fatalf("Promote: since %d and %d, want 3 and 3", sinceOf(k, staged), sinceOf(k, first))
	}
	_, err = k.Rotate()
	step("Rotate", true, err)
	step("Disable", true, k.Disable(first))
	step("Disable(disabled)", false, k.Disable(first))
	step("Enable", true, k.Enable(first))
	if sinceOf(k, first) != 6 {
		t.Fatalf("Enable: since %d, want 6", sinceOf(k, first))
	}
	step("Enable(enabled)", false, k.Enable(first))
	step("Delete(enabled), refused", false, k.Delete(first))
	step("Disable(primary), refused", false, k.Disable(k.Primary()))
	step("Disable", true, k.Disable(first))
	step("Delete", true, k.Delete(first))
	if got := k.DeletedKeys(); !slices.Equal(got, []uint32{first}) {
		t.Fatalf("DeletedKeys = %v, want [%d]", got, first)
	}

	// Clone, Save and Load keep all of it; a KEK carries the generation.
	c := k.Clone()
	if c.Generation() != k.Generation() || !slices.Equal(c.DeletedKeys(), k.DeletedKeys()) {
		t.Fatalf("Clone: generation %d, deleted %v", c.Generation(), c.DeletedKeys())
	}
	if _, err := c.Stage(); err != nil {
		t.Fatal(err)
	}
	if k.Generation() != want {
		t.Fatalf("an edit of a clone changed the original's generation")
	}
	m := testMaster(t)
	back, err := Load(bytes.NewReader(mustSave(t, k, m)), m)
	if err != nil {
		t.Fatal(err)
	}
	sameKeyring(t, k, back)
	if g := mustKEK(t, k).Generation(); g != want {
		t.Fatalf("KEK generation %d, want %d", g, want)
	}
	if (*KEK)(nil).Generation() != 0 {
		t.Fatal("nil KEK generation")
	}

	// The generation cannot wrap around.
	k.generation = math.MaxUint64
	if _, err := k.Stage(); !errors.Is(err, ErrKeyState) {
		t.Fatalf("Stage at the last generation: %v", err)
	}
}

func sinceOf(k *Keyring, id uint32) uint64 {
	for _, ki := range k.Keys() {
		if ki.ID == id {
			return ki.Since
		}
	}
	return math.MaxUint64
}

// TestKeyringVersion1Upgrade: a version 1 file loads at generation 0, and
// is saved as version 2; its first edit makes generation 1.
func TestKeyringVersion1Upgrade(t *testing.T) {
	m := testMaster(t)
	k, err := LoadFile("testdata/keyring-v1.json", m, AllowInsecurePermissions())
	if err != nil {
		t.Fatal(err)
	}
	if k.Generation() != 0 || len(k.DeletedKeys()) != 0 {
		t.Fatalf("version 1 file: generation %d, deleted %v", k.Generation(), k.DeletedKeys())
	}
	for _, ki := range k.Keys() {
		if ki.Since != 0 {
			t.Fatalf("version 1 key %d since %d", ki.ID, ki.Since)
		}
	}
	id, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(bytes.NewReader(mustSave(t, k, m)), m)
	if err != nil {
		t.Fatal(err)
	}
	sameKeyring(t, k, back)
	if back.Generation() != 1 || sinceOf(back, id) != 1 {
		t.Fatalf("first edit of a version 1 keyring: generation %d, since %d", back.Generation(), sinceOf(back, id))
	}
}

// TestKeyringNeverReusesDeletedID: a new key never gets the id of a
// deleted key (Tink draws ids at random; the test makes the draw hit one).
func TestKeyringNeverReusesDeletedID(t *testing.T) {
	k := mustGenerate(t)
	id, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Disable(id); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete(id); err != nil {
		t.Fatal(err)
	}
	draws := 0
	real := addKey
	t.Cleanup(func() { addKey = real })
	addKey = func(m *keyset.Manager) (uint32, error) {
		draws++
		if draws > 1 {
			return real(m)
		}
		raw := make([]byte, 32)
		key, err := aesgcm.NewKey(secretdata.NewBytesFromData(raw, insecuresecretdataaccess.Token{}), id, aesGCMParameters)
		if err != nil {
			return 0, err
		}
		return m.AddKey(key)
	}
	got, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	if got == id || draws != 2 {
		t.Fatalf("Stage gave id %d (deleted %d) after %d draws", got, id, draws)
	}
	if len(k.Keys()) != 2 || mustKEK(t, k).Has(id) {
		t.Fatalf("the redrawn key stayed in the keyring: %v", k.Keys())
	}
	// If every draw hits a deleted id, Stage fails and changes nothing.
	for i := range uint32(8) {
		k.deleted = append(k.deleted, 100+i) // below any id Tink drew here, almost surely
	}
	slices.Sort(k.deleted)
	gen, next := k.Generation(), uint32(100)
	addKey = func(m *keyset.Manager) (uint32, error) {
		key, err := aesgcm.NewKey(secretdata.NewBytesFromData(make([]byte, 32), insecuresecretdataaccess.Token{}), next, aesGCMParameters)
		if err != nil {
			return 0, err
		}
		next++
		return m.AddKey(key)
	}
	if _, err := k.Stage(); err == nil || next != 108 {
		t.Fatalf("Stage with only deleted ids to draw: %v after %d draws", err, next-100)
	}
	if k.Generation() != gen || len(k.Keys()) != 2 {
		t.Fatalf("a failed Stage changed the keyring")
	}
}

// TestKeyringMaxDeleted: Delete refuses past MaxDeleted remembered ids.
func TestKeyringMaxDeleted(t *testing.T) {
	k := mustGenerate(t)
	k.deleted = make([]uint32, MaxDeleted)
	for i := range k.deleted {
		k.deleted[i] = uint32(i) // Tink's ids are random: 0..9999 is unlikely to hold one
	}
	id, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Disable(id); err != nil {
		t.Fatal(err)
	}
	gen := k.Generation()
	wantErr(t, "Delete past MaxDeleted", k.Delete(id), ErrKeyState)
	if k.Generation() != gen || statusOf(k, id) != Disabled {
		t.Fatalf("a refused Delete changed the keyring")
	}
}

// rollbackReason returns the reason of a *RollbackError, failing unless err
// is one and wraps ErrRollback.
func rollbackReason(t *testing.T, what string, err error) RollbackReason {
	t.Helper()
	var re *RollbackError
	if !errors.As(err, &re) || !errors.Is(err, ErrRollback) {
		t.Fatalf("%s: err = %v, want a *RollbackError", what, err)
	}
	return re.Reason
}

// TestCheckSuccessorRollback is the attack of issue 11: a copy of the file
// saved while K2 was staged is written back after K2 was promoted and K1
// retired. Every older copy is refused; the newer ones are accepted.
func TestCheckSuccessorRollback(t *testing.T) {
	m := testMaster(t)
	k := mustGenerate(t)
	k1 := k.Primary()
	k2, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	stagedCopy := mustSave(t, k, m) // reaches replicas and backups
	if err := k.Promote(k2); err != nil {
		t.Fatal(err)
	}
	promotedCopy := mustSave(t, k, m)
	if err := k.Disable(k1); err != nil {
		t.Fatal(err)
	}
	disabledCopy := mustSave(t, k, m)
	if err := k.Delete(k1); err != nil {
		t.Fatal(err)
	}
	current := mustKEK(t, k)
	load := func(data []byte) *KEK {
		t.Helper()
		kk, err := Load(bytes.NewReader(data), m)
		if err != nil {
			t.Fatal(err)
		}
		return mustKEK(t, kk)
	}
	for name, data := range map[string][]byte{"staged": stagedCopy, "promoted": promotedCopy, "disabled": disabledCopy} {
		err := CheckSuccessor(current, load(data))
		if r := rollbackReason(t, "the "+name+" copy", err); r != OlderGeneration {
			t.Fatalf("the %s copy: reason %v", name, r)
		}
		var re *RollbackError
		errors.As(err, &re)
		if re.Current != k.Generation() || re.Next >= re.Current {
			t.Fatalf("the %s copy: %+v", name, re)
		}
	}
	// Forwards, every step is accepted, skipping generations or not: a
	// replica that missed the promotion takes the later keyring, which
	// records that K1 was retired after the copy it holds, and stops
	// sealing under K1.
	steps := []*KEK{load(stagedCopy), load(promotedCopy), load(disabledCopy), current}
	for i := range steps {
		for j := i; j < len(steps); j++ {
			err := CheckSuccessor(steps[i], steps[j])
			if err != nil {
				t.Fatalf("step %d to %d: %v", i, j, err)
			}
		}
	}
	if err := CheckSuccessor(nil, load(stagedCopy)); err != nil {
		t.Fatalf("no current keyring: %v", err)
	}
	if err := CheckSuccessor(current, nil); err == nil {
		t.Fatal("nil next accepted")
	}
}

// TestCheckSuccessorKeys: the refusals about keys, each with a keyring
// newer than the one in use, as an operator makes by editing an old copy
// of the file.
func TestCheckSuccessorKeys(t *testing.T) {
	base := mustGenerate(t)
	k1 := base.Primary()
	k2, err := base.Stage()
	if err != nil {
		t.Fatal(err)
	}
	k3, err := base.Stage()
	if err != nil {
		t.Fatal(err)
	}
	if err := base.Disable(k3); err != nil {
		t.Fatal(err)
	}
	old := base.Clone() // k1 primary, k2 staged, k3 disabled

	// In use: k2 primary, k1 disabled, k3 deleted.
	cur := base.Clone()
	for _, err := range []error{cur.Promote(k2), cur.Disable(k1), cur.Delete(k3)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	current := mustKEK(t, cur)

	// raise gives k a generation above cur's with harmless edits (a
	// staged key added and deleted).
	raise := func(k *Keyring) *Keyring {
		for k.Generation() <= cur.Generation() {
			id, err := k.Stage()
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Disable(id); err != nil {
				t.Fatal(err)
			}
		}
		return k
	}
	cases := []struct {
		name string
		next func() *Keyring
		want RollbackReason
		key  uint32
	}{
		{"old copy edited past the generation in use: primary k1 back, k2 not primary", func() *Keyring { return raise(old.Clone()) }, DisabledKeyEnabled, k1},
		{"deleted key enabled in a fork", func() *Keyring {
			k := old.Clone()
			if err := k.Promote(k2); err != nil {
				t.Fatal(err)
			}
			if err := k.Disable(k1); err != nil {
				t.Fatal(err)
			}
			if err := k.Enable(k3); err != nil {
				t.Fatal(err)
			}
			return raise(k)
		}, DeletedKeyEnabled, k3},
		{"same generation, other keys", func() *Keyring {
			k := cur.Clone()
			k.generation--
			if _, err := k.Stage(); err != nil {
				t.Fatal(err)
			}
			return k
		}, SameGenerationDiffers, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := tc.next()
			err := CheckSuccessor(current, mustKEK(t, next))
			if r := rollbackReason(t, tc.name, err); r != tc.want {
				t.Fatalf("reason %v, want %v (%v)", r, tc.want, err)
			}
			var re *RollbackError
			errors.As(err, &re)
			if re.KeyID != tc.key || re.Current != cur.Generation() || re.Next != next.Generation() {
				t.Fatalf("%+v: want key %d, generations %d and %d", re, tc.key, cur.Generation(), next.Generation())
			}
		})
	}

	// The primary in use retired by later edits (rotate, then disable it):
	// an authentic later keyring, accepted, so that a replica that missed
	// the rotation stops sealing under the retired key.
	retired := cur.Clone()
	if _, err := retired.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := retired.Disable(k2); err != nil {
		t.Fatal(err)
	}
	if err := CheckSuccessor(current, mustKEK(t, retired)); err != nil {
		t.Fatalf("primary in use retired by later edits: %v", err)
	}

	// An operator's Enable on the keyring in use is accepted: the edit is
	// after the generation in use.
	enabled := cur.Clone()
	if err := enabled.Enable(k1); err != nil {
		t.Fatal(err)
	}
	if err := CheckSuccessor(current, mustKEK(t, enabled)); err != nil {
		t.Fatalf("Enable after the generation in use: %v", err)
	}
	// The same keyring again (a re-save, a remaster) is accepted.
	if err := CheckSuccessor(current, mustKEK(t, cur.Clone())); err != nil {
		t.Fatalf("same keyring: %v", err)
	}
	// Version 1 keyrings are all generation 0, with every key at 0: equal
	// generations are not compared, the key rules hold.
	asVersion1 := func(k *Keyring) *KEK {
		k = k.Clone()
		k.generation = 0
		for i := range k.keys {
			k.keys[i].Since = 0
		}
		return mustKEK(t, k)
	}
	if err := CheckSuccessor(asVersion1(old), asVersion1(old)); err != nil {
		t.Fatalf("generation 0 to the same generation 0: %v", err)
	}
	promoted := old.Clone()
	if err := promoted.Promote(k2); err != nil {
		t.Fatal(err)
	}
	// Between version 1 keyrings nothing tells an old copy from a new one:
	// the primary may not change (an old copy would bring a retired key
	// back), until the first edit with generations.
	err = CheckSuccessor(asVersion1(old), asVersion1(promoted))
	if r := rollbackReason(t, "generation 0 to another primary at generation 0", err); r != PrimaryDropped {
		t.Fatalf("reason %v", r)
	}
	err = CheckSuccessor(asVersion1(cur), asVersion1(old))
	if r := rollbackReason(t, "generation 0 to an earlier generation 0", err); r != PrimaryDropped && r != DisabledKeyEnabled {
		t.Fatalf("reason %v", r)
	}
}

func TestRollbackErrorMessages(t *testing.T) {
	for r := OlderGeneration; r <= DeletedKeyEnabled+1; r++ {
		e := &RollbackError{Reason: r, Current: 9, Next: 7, KeyID: 42}
		msg := e.Error()
		if !bytes.Contains([]byte(msg), []byte("generation 7")) || !bytes.Contains([]byte(msg), []byte("9")) {
			t.Errorf("%v: %q names no generations", r, msg)
		}
		if r >= PrimaryDropped && r <= DeletedKeyEnabled && !bytes.Contains([]byte(msg), []byte("key 42")) {
			t.Errorf("%v: %q names no key", r, msg)
		}
		if r.String() == "" {
			t.Errorf("%d: empty String", int(r))
		}
	}
}
