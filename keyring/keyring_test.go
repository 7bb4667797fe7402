package keyring

import (
	"slices"
	"testing"
	"time"
)

func TestGenerate(t *testing.T) {
	before := time.Now()
	k := mustGenerate(t)
	keys := k.Keys()
	if len(keys) != 1 {
		t.Fatalf("Generate: %d keys, want 1", len(keys))
	}
	if keys[0].Status != Primary || keys[0].ID != k.Primary() {
		t.Fatalf("Generate: key %+v, Primary() = %d", keys[0], k.Primary())
	}
	if c := keys[0].Created; c.Before(before.Add(-time.Second)) || c.After(time.Now().Add(time.Second)) || c.Location() != time.UTC {
		t.Fatalf("Generate: created %v, want now in UTC", c)
	}
	// Two keyrings never share a key.
	if k2 := mustGenerate(t); k2.Primary() == k.Primary() {
		t.Fatalf("two Generate calls gave the same key id %d", k.Primary())
	}
}

func TestLifecycle(t *testing.T) {
	k := mustGenerate(t)
	first := k.Primary()

	staged, err := k.Stage()
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	if got := statusOf(k, staged); got != Staged {
		t.Fatalf("after Stage: status %v, want staged", got)
	}
	if k.Primary() != first {
		t.Fatalf("Stage changed the primary")
	}

	if err := k.Promote(staged); err != nil {
		t.Fatalf("Promote(staged): %v", err)
	}
	if k.Primary() != staged || statusOf(k, staged) != Primary || statusOf(k, first) != DecryptOnly {
		t.Fatalf("after Promote: primary %d, statuses %v/%v", k.Primary(), statusOf(k, staged), statusOf(k, first))
	}

	// Promote of a decrypt-only key brings it back.
	if err := k.Promote(first); err != nil {
		t.Fatalf("Promote(decrypt-only): %v", err)
	}
	if k.Primary() != first || statusOf(k, staged) != DecryptOnly {
		t.Fatalf("after Promote back: primary %d, status of other %v", k.Primary(), statusOf(k, staged))
	}
	// Promoting the primary is a no-op.
	if err := k.Promote(first); err != nil || k.Primary() != first {
		t.Fatalf("Promote(primary): err %v, primary %d", err, k.Primary())
	}

	rotated, err := k.Rotate()
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if k.Primary() != rotated || statusOf(k, first) != DecryptOnly {
		t.Fatalf("after Rotate: primary %d (want %d), old %v", k.Primary(), rotated, statusOf(k, first))
	}

	if err := k.Disable(first); err != nil {
		t.Fatalf("Disable(decrypt-only): %v", err)
	}
	if statusOf(k, first) != Disabled {
		t.Fatalf("after Disable: %v", statusOf(k, first))
	}
	if err := k.Disable(first); err != nil || statusOf(k, first) != Disabled {
		t.Fatalf("Disable(disabled) should be a no-op: %v, %v", err, statusOf(k, first))
	}
	if err := k.Enable(first); err != nil || statusOf(k, first) != DecryptOnly {
		t.Fatalf("Enable(disabled): %v, status %v, want decrypt-only", err, statusOf(k, first))
	}
	if err := k.Enable(first); err != nil || statusOf(k, first) != DecryptOnly {
		t.Fatalf("Enable(enabled) should be a no-op: %v, %v", err, statusOf(k, first))
	}
	if err := k.Enable(rotated); err != nil || statusOf(k, rotated) != Primary {
		t.Fatalf("Enable(primary) should be a no-op: %v, %v", err, statusOf(k, rotated))
	}

	// A staged key can be disabled directly, and deleted.
	s2, err := k.Stage()
	if err != nil {
		t.Fatalf("Stage: %v", err)
	}
	if err := k.Disable(s2); err != nil {
		t.Fatalf("Disable(staged): %v", err)
	}
	if err := k.Delete(s2); err != nil {
		t.Fatalf("Delete(disabled): %v", err)
	}
	if statusOf(k, s2) != 0 || len(k.Keys()) != 3 {
		t.Fatalf("after Delete: status %v, %d keys", statusOf(k, s2), len(k.Keys()))
	}
	// The KEK built from the keyring agrees.
	s := mustKEK(t, k)
	if s.PrimaryID() != rotated || s.Has(s2) || !s.Has(first) || !s.Has(staged) {
		t.Fatalf("KEK: primary %d, has deleted %t, has old %t %t", s.PrimaryID(), s.Has(s2), s.Has(first), s.Has(staged))
	}
}

func TestRefusals(t *testing.T) {
	k := mustGenerate(t)
	primary := k.Primary()
	staged, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	old := primary
	newPrimary, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	disabled, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Disable(disabled); err != nil {
		t.Fatal(err)
	}
	unknown := uint32(1)
	for slices.ContainsFunc(k.Keys(), func(ki KeyInfo) bool { return ki.ID == unknown }) {
		unknown++
	}
	before := k.Keys()

	cases := []struct {
		name string
		err  error
		want error
	}{
		{"Promote(disabled)", k.Promote(disabled), ErrKeyState},
		{"Promote(unknown)", k.Promote(unknown), ErrKeyNotFound},
		{"Disable(primary)", k.Disable(newPrimary), ErrKeyState},
		{"Disable(unknown)", k.Disable(unknown), ErrKeyNotFound},
		{"Enable(unknown)", k.Enable(unknown), ErrKeyNotFound},
		{"Delete(primary)", k.Delete(newPrimary), ErrKeyState},
		{"Delete(staged)", k.Delete(staged), ErrKeyState},
		{"Delete(decrypt-only)", k.Delete(old), ErrKeyState},
		{"Delete(unknown)", k.Delete(unknown), ErrKeyNotFound},
	}
	for _, c := range cases {
		wantErr(t, c.name, c.err, c.want)
	}
	// A refused edit changes nothing.
	if after := k.Keys(); !slices.Equal(before, after) {
		t.Fatalf("refused edits changed the keyring:\n%v\n%v", before, after)
	}
	// A deleted key is unknown afterwards.
	if err := k.Delete(disabled); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Enable(deleted)", k.Enable(disabled), ErrKeyNotFound)
	wantErr(t, "Delete(deleted)", k.Delete(disabled), ErrKeyNotFound)
}

func TestZeroKeyring(t *testing.T) {
	var k Keyring
	_, err := k.Stage()
	wantErr(t, "Stage", err, ErrEmptyKeyring)
	_, err = k.Rotate()
	wantErr(t, "Rotate", err, ErrEmptyKeyring)
	wantErr(t, "Promote", k.Promote(1), ErrEmptyKeyring)
	wantErr(t, "Disable", k.Disable(1), ErrEmptyKeyring)
	wantErr(t, "Enable", k.Enable(1), ErrEmptyKeyring)
	wantErr(t, "Delete", k.Delete(1), ErrEmptyKeyring)
	_, err = k.KEK()
	wantErr(t, "KEK", err, ErrEmptyKeyring)
	wantErr(t, "Save", k.Save(new(discard), testMaster(t)), ErrEmptyKeyring)
	wantErr(t, "SaveFile", k.SaveFile(t.TempDir()+"/k.json", testMaster(t)), ErrEmptyKeyring)
	wantErr(t, "InsecureSaveCleartext", InsecureSaveCleartext(new(discard), &k), ErrEmptyKeyring)
	if len(k.Keys()) != 0 || k.Primary() != 0 {
		t.Fatalf("zero keyring: Keys %v, Primary %d", k.Keys(), k.Primary())
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestKeysSortedByCreation(t *testing.T) {
	k := mustGenerate(t)
	var ids []uint32
	ids = append(ids, k.Primary())
	for range 5 {
		id, err := k.Stage()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Make creation times out of insertion order, with a tie: Keys sorts by
	// time and keeps insertion order among equal times.
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	offsets := []time.Duration{5, 1, 3, 1, 0, 2}
	for i := range k.keys {
		k.keys[i].Created = base.Add(offsets[i] * time.Hour)
	}
	want := []uint32{ids[4], ids[1], ids[3], ids[5], ids[2], ids[0]}
	var got []uint32
	for _, ki := range k.Keys() {
		got = append(got, ki.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Keys order %v, want %v", got, want)
	}
	if s := mustKEK(t, k); !slices.Equal(s.KeyIDs(), want) {
		t.Fatalf("KEK.KeyIDs %v, want %v", s.KeyIDs(), want)
	}
	// Keys returns a copy.
	keys := k.Keys()
	keys[0].Status = Disabled
	if statusOf(k, keys[0].ID) == Disabled {
		t.Fatalf("Keys returned the keyring's own slice")
	}
}

func TestClone(t *testing.T) {
	k := mustGenerate(t)
	c := k.Clone()
	id, err := c.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Keys()) != 1 || k.Primary() == id {
		t.Fatalf("editing the clone changed the original: %v", k.Keys())
	}
	if err := c.Disable(k.Primary()); err != nil {
		t.Fatal(err)
	}
	if statusOf(k, k.Primary()) != Primary {
		t.Fatalf("disabling in the clone changed the original")
	}
	// Both still work.
	mustKEK(t, k)
	mustKEK(t, c)
}

func TestMaxKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a keyring of MaxKeys keys")
	}
	k := mustGenerate(t)
	// Fill through Stage, the path whose limit is tested.
	for len(k.keys) < MaxKeys {
		if _, err := k.Stage(); err != nil {
			t.Fatalf("Stage #%d: %v", len(k.keys), err)
		}
	}
	_, err := k.Stage()
	wantErr(t, "Stage beyond MaxKeys", err, ErrKeyState)
	_, err = k.Rotate()
	wantErr(t, "Rotate beyond MaxKeys", err, ErrKeyState)
	if len(k.Keys()) != MaxKeys {
		t.Fatalf("%d keys after refusals, want %d", len(k.Keys()), MaxKeys)
	}
	// A full keyring saves and loads: the file limits fit MaxKeys.
	m := testMaster(t)
	data := mustSave(t, k, m)
	if len(data) > maxFileSize {
		t.Fatalf("file of MaxKeys keys is %d bytes, over the %d limit", len(data), maxFileSize)
	}
	t.Logf("file of %d keys: %d bytes", MaxKeys, len(data))
	if _, err := Load(bytesReader(data), m); err != nil {
		t.Fatalf("Load full keyring: %v", err)
	}
}

func TestStatusText(t *testing.T) {
	for s := Staged; s <= Disabled; s++ {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatalf("%v.MarshalText: %v", s, err)
		}
		var back Status
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("UnmarshalText(%q) = %v, %v", b, back, err)
		}
	}
	if got := Status(0).String(); got != "Status(0)" {
		t.Fatalf("Status(0).String() = %q", got)
	}
	if _, err := Status(9).MarshalText(); err == nil {
		t.Fatalf("Status(9).MarshalText succeeded")
	}
	var s Status
	for _, bad := range []string{"", "Primary", "deleted", "destroyed", "enabled"} {
		if err := s.UnmarshalText([]byte(bad)); err == nil {
			t.Fatalf("UnmarshalText(%q) succeeded", bad)
		}
	}
	want := map[Status]string{Staged: "staged", Primary: "primary", DecryptOnly: "decrypt-only", Disabled: "disabled"}
	for s, name := range want {
		if s.String() != name {
			t.Fatalf("%d.String() = %q, want %q", int(s), s.String(), name)
		}
	}
}
