package keyring

// Adversarial review of keyring.EditFile (review of 56a5e35..f7390d1,
// item 3: "lose a keyring edit").

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReviewEditFileLinkRetargeted: EditFile resolves a symbolic link at
// path once, before it takes the lock, then edits and replaces the file
// the link named then. If the link is pointed at another file during the
// edit (a deployment that switches a "current" link, a restore that
// recreates the link, a second operator's tool that replaces the link
// rather than the file), the check "the file no longer holds the bytes
// EditFile read" looks at the old target, which did not change: EditFile
// reports success, and the file the application reads through path does
// not hold the edit. Here the edit stages a key; a replica loading path
// never sees it, and the operator, told the edit succeeded, promotes it
// next: replicas that cannot unwrap it.
func TestReviewEditFileLinkRetargeted(t *testing.T) {
	m := testMaster(t)
	dir := t.TempDir()
	a := filepath.Join(dir, "a", "keyring.json")
	b := filepath.Join(dir, "b", "keyring.json")
	for _, d := range []string{filepath.Dir(a), filepath.Dir(b)} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	k := mustGenerate(t)
	if err := k.SaveFile(a, m); err != nil {
		t.Fatal(err)
	}
	if err := k.SaveFile(b, m); err != nil { // the same keyring, another copy
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keyring.json")
	if err := os.Symlink(a, path); err != nil {
		t.Fatal(err)
	}
	var staged uint32
	_, err := EditFile(t.Context(), path, m, func(k *Keyring) (err error) {
		staged, err = k.Stage()
		if err != nil {
			return err
		}
		// Meanwhile the link at path is switched to the other copy,
		// atomically, as deployment tools do.
		tmp := path + ".new"
		if err := os.Symlink(b, tmp); err != nil {
			return err
		}
		return os.Rename(tmp, path)
	})
	if err != nil {
		return // refused: nothing lost
	}
	got, lerr := LoadFile(path, m)
	if lerr != nil {
		t.Fatal(lerr)
	}
	if _, ok := got.Algorithm(staged); !ok {
		t.Fatalf("EditFile reported success, but the keyring at %s does not hold the staged key %d: the edit went to a file no link names any more", "path", staged)
	}
}
