//go:build unix

package keyring

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// envEditChild names the keyring file a child process of
// TestEditKeyringFileTwoProcesses edits.
const envEditChild = "ACCOUNTVAULT_TEST_EDIT_CHILD"

const editsPerProcess = 50

// TestEditKeyringFileTwoProcesses: two processes each run 50 edits of one
// file at once, half of them as the CLI's key retirement does (load, work
// without the lock, then edit only if the keyring is still the one
// loaded). Every edit either lands or fails with ErrChangedMeanwhile, and
// the file ends with every key that landed: no edit is lost. (Load, edit
// and SaveFile, as the CLI did before, lose edits here.)
func TestEditKeyringFileTwoProcesses(t *testing.T) {
	if path := os.Getenv(envEditChild); path != "" {
		editChild(t, path)
		return
	}
	m := testMaster(t)
	path := filepath.Join(t.TempDir(), "keyring.json")
	k := mustGenerate(t)
	if err := k.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestEditKeyringFileTwoProcesses$", "-test.count=1")
			cmd.Env = append(os.Environ(), envEditChild+"="+path)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			outs[i], errs[i] = cmd.Output()
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%w\n%s%s", errs[i], outs[i], stderr.Bytes())
			}
		})
	}
	wg.Wait()
	var landed []uint32
	changed := 0
	for i, out := range outs {
		if errs[i] != nil {
			t.Fatalf("process %d: %v", i, errs[i])
		}
		n := 0
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "landed "):
				id, err := strconv.ParseUint(strings.TrimPrefix(line, "landed "), 10, 32)
				if err != nil {
					t.Fatal(err)
				}
				landed = append(landed, uint32(id))
				n++
			case line == "changed meanwhile":
				changed++
				n++
			}
		}
		if n != editsPerProcess {
			t.Fatalf("process %d reported %d edits, want %d:\n%s", i, n, editsPerProcess, out)
		}
	}
	final, err := LoadFile(path, m)
	if err != nil {
		t.Fatal(err)
	}
	var staged []uint32
	for _, ki := range final.Keys() {
		if ki.Status == Staged {
			staged = append(staged, ki.ID)
		}
	}
	slices.Sort(staged)
	slices.Sort(landed)
	if !slices.Equal(staged, landed) {
		t.Fatalf("%d edits landed, the file holds %d staged keys: %d lost", len(landed), len(staged), len(landed)-len(staged))
	}
	if final.Generation() != uint64(1+len(landed)) {
		t.Fatalf("generation %d after %d edits of generation 1", final.Generation(), len(landed))
	}
	entries, err := filepath.Glob(filepath.Join(filepath.Dir(path), ".*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("the edits left %v", entries)
	}
	t.Logf("%d edits landed, %d refused as changed meanwhile", len(landed), changed)
}

// editChild runs the edits of one child process and reports each on
// stdout: "landed ID" or "changed meanwhile". Any other error fails.
func editChild(t *testing.T, path string) {
	m := testMaster(t)
	ctx := context.Background()
	// Start together: each child marks itself ready and waits for the
	// other, so that the edits overlap.
	ready := filepath.Join(filepath.Dir(path), fmt.Sprintf("ready-%d", os.Getpid()))
	if err := os.WriteFile(ready, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for {
		r, err := filepath.Glob(filepath.Join(filepath.Dir(path), "ready-*"))
		if err != nil {
			t.Fatal(err)
		}
		if len(r) == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i := range editsPerProcess {
		var id uint32
		var err error
		if i%2 == 0 {
			_, err = EditFile(ctx, path, m, func(k *Keyring) (err error) {
				id, err = k.Stage()
				return err
			})
		} else {
			var before *Keyring
			if before, err = LoadFile(path, m); err == nil {
				// Work that needs no lock (a count of the rows
				// using a key), during which the other process
				// may edit the file.
				time.Sleep(time.Millisecond)
				_, err = EditFile(ctx, path, m, func(k *Keyring) (err error) {
					if k.Generation() != before.Generation() {
						return fmt.Errorf("generation %d, loaded %d: %w", k.Generation(), before.Generation(), ErrChangedMeanwhile)
					}
					id, err = k.Stage()
					return err
				})
			}
		}
		switch {
		case err == nil:
			fmt.Printf("landed %d\n", id)
		case errors.Is(err, ErrChangedMeanwhile):
			fmt.Println("changed meanwhile")
		default:
			t.Fatalf("edit %d: %v", i, err)
		}
	}
}

// TestEditKeyringFileChangedMeanwhile: a writer that does not take the
// lock (a copy, an editor) replaces the file while EditFile edits it:
// EditFile writes nothing and says so.
func TestEditKeyringFileChangedMeanwhile(t *testing.T) {
	m := testMaster(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring.json")
	if err := mustGenerate(t).SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	other := mustSave(t, mustGenerate(t), m)
	for name, meddle := range map[string]func() error{
		"replaced": func() error { return os.WriteFile(path, other, 0o600) },
		"removed":  func() error { return os.Remove(path) },
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, other, 0o600); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = EditFile(t.Context(), path, m, func(k *Keyring) error {
				if _, err := k.Stage(); err != nil {
					return err
				}
				// Another keyring, or the same bytes rewritten:
				// only a change of content counts.
				other = mustSave(t, mustGenerate(t), m)
				return meddle()
			})
			wantErr(t, "EditFile", err, ErrChangedMeanwhile)
			if !strings.Contains(err.Error(), "changed meanwhile: run again") {
				t.Errorf("message: %v", err)
			}
			after, rerr := os.ReadFile(path)
			if name == "replaced" && (rerr != nil || !bytes.Equal(after, other) || bytes.Equal(after, before)) {
				t.Fatalf("the other writer's file was replaced (%v)", rerr)
			}
			if name == "removed" && !errors.Is(rerr, os.ErrNotExist) {
				t.Fatalf("the removed file came back")
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) > 1 {
				t.Fatalf("a refused edit left %v", entries)
			}
		})
	}
}

// TestEditKeyringFileLock: edits of one file run one at a time; one that
// waits for the lock gives up when its context is done; SaveFile does not
// wait; the lock file is gone once the lock is released.
func TestEditKeyringFileLock(t *testing.T) {
	m := testMaster(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring.json")
	k := mustGenerate(t)
	if err := k.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	locked := make(chan struct{})
	release := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := EditFile(context.Background(), path, m, func(k *Keyring) error {
			close(locked)
			<-release
			_, err := k.Stage()
			return err
		})
		first <- err
	}()
	<-locked
	if _, err := os.Stat(lockPath(path)); err != nil {
		t.Fatalf("no lock file while an edit runs: %v", err)
	}
	// SaveFile does not wait for the lock.
	err := k.SaveFile(path, m)
	wantErr(t, "SaveFile while an edit holds the lock", err, ErrChangedMeanwhile)
	// A waiting edit stops with its context.
	ctx, cancel := context.WithCancel(t.Context())
	waiting := make(chan error, 1)
	go func() {
		_, err := EditFile(ctx, path, m, func(k *Keyring) error {
			t.Error("edit ran while another held the lock")
			return nil
		})
		waiting <- err
	}()
	cancel()
	wantErr(t, "EditFile waiting for the lock, cancelled", <-waiting, context.Canceled)
	// A waiting edit runs once the lock is released, on the result of
	// the edit before it.
	second := make(chan *Keyring, 1)
	go func() {
		k, err := EditFile(context.Background(), path, m, func(k *Keyring) error {
			_, err := k.Stage()
			return err
		})
		if err != nil {
			t.Error(err)
		}
		second <- k
	}()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	k2 := <-second
	if k2 == nil || len(k2.Keys()) != 3 || k2.Generation() != 3 {
		t.Fatalf("the second edit did not run on the first's result: %v", k2)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("edits left %v", entries)
	}
	// A lock file that is a link or a FIFO is refused, never followed.
	target := filepath.Join(dir, "elsewhere")
	if err := os.Symlink(target, lockPath(path)); err != nil {
		t.Fatal(err)
	}
	_, err = EditFile(t.Context(), path, m, func(k *Keyring) error { return nil })
	if err == nil {
		t.Fatalf("EditFile followed a symbolic link as its lock file")
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the lock file link's target was created")
	}
}

// TestEditKeyringFileNoop: an edit that changes nothing writes nothing;
// an edit that fails writes nothing and its error comes back as is.
func TestEditKeyringFileNoop(t *testing.T) {
	m := testMaster(t)
	path := filepath.Join(t.TempDir(), "keyring.json")
	k := mustGenerate(t)
	if err := k.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := EditFile(t.Context(), path, m, func(k *Keyring) error { return k.Promote(k.Primary()) })
	if err != nil || got == nil || got.Generation() != 1 {
		t.Fatalf("no-op edit: %v, %v", got, err)
	}
	errEdit := errors.New("edit failed")
	_, err = EditFile(t.Context(), path, m, func(k *Keyring) error {
		if _, err := k.Stage(); err != nil {
			return err
		}
		return errEdit
	})
	if err != errEdit {
		t.Fatalf("edit error: %v", err)
	}
	_, err = EditFile(t.Context(), path, m, func(k *Keyring) error { return k.Disable(k.Primary()) })
	wantErr(t, "refused edit", err, ErrKeyState)
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("an edit that changed nothing rewrote the file")
	}
	_, err = EditFile(t.Context(), filepath.Join(t.TempDir(), "missing.json"), m, func(*Keyring) error { return nil })
	wantErr(t, "EditFile of a missing file", err, os.ErrNotExist)
	_, err = EditFile(t.Context(), path, nil, func(*Keyring) error { return nil })
	wantErr(t, "EditFile without master key", err, ErrNoMasterKey)
	if _, err := EditFile(t.Context(), path, m, nil); err == nil {
		t.Fatal("EditFile with a nil edit succeeded")
	}
	_, err = EditFile(t.Context(), path, newMaster(t), func(*Keyring) error { return nil })
	wantErr(t, "EditFile with another master key", err, ErrWrongMasterKey)
}

// TestRemasterKeyringFile: the keyring moves to the new master key,
// unchanged, generation included.
func TestRemasterKeyringFile(t *testing.T) {
	m, n := testMaster(t), newMaster(t)
	path := filepath.Join(t.TempDir(), "keyring.json")
	k := fullKeyring(t)
	if err := k.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	got, err := RemasterFile(t.Context(), path, m, n)
	if err != nil {
		t.Fatal(err)
	}
	sameKeyring(t, k, got)
	back, err := LoadFile(path, n)
	if err != nil {
		t.Fatalf("LoadFile under the new master key: %v", err)
	}
	sameKeyring(t, k, back)
	_, err = LoadFile(path, m)
	wantErr(t, "LoadFile under the old master key", err, ErrWrongMasterKey)
	_, err = RemasterFile(t.Context(), path, m, n)
	wantErr(t, "RemasterFile from the wrong master key", err, ErrWrongMasterKey)
	_, err = RemasterFile(t.Context(), path, n, nil)
	wantErr(t, "RemasterFile to no master key", err, ErrNoMasterKey)
}
