//go:build unix

package keyring

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// allocatedBy returns the bytes the Go heap allocated while f ran.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// returnsOrFails runs f in a goroutine and waits for it: until the test's
// deadline (less a margin to report), or for ever without one. A call that
// blocks (on a FIFO) fails the test instead of hanging it; unblock is then
// called to let the goroutine finish.
func returnsOrFails(t *testing.T, what string, f func(), unblock func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	var timeout <-chan time.Time
	if d, ok := t.Deadline(); ok {
		timeout = time.After(time.Until(d) - 5*time.Second)
	}
	select {
	case <-done:
	case <-timeout:
		unblock()
		<-done
		t.Fatalf("%s blocked until the test's deadline", what)
	}
}

// mkfifo makes a FIFO at path; its cleanup opens it for writing without
// blocking, which releases a reader blocked in open(2).
func mkfifo(t *testing.T, path string) (unblock func()) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			f.Close()
		}
	}
}

// TestLoadKeyringFileFIFO: a FIFO at the path (a keyring-file writer can
// make one) neither hangs LoadFile nor LoadFileIfChanged: they refuse it at
// once. Before, LoadFile blocked in open(2) until a writer came.
func TestLoadKeyringFileFIFO(t *testing.T) {
	m := testMaster(t)
	path := filepath.Join(t.TempDir(), "keyring.json")
	unblock := mkfifo(t, path)
	var err error
	returnsOrFails(t, "LoadFile of a FIFO", func() { _, err = LoadFile(path, m) }, unblock)
	wantErr(t, "LoadFile of a FIFO", err, ErrKeyringCorrupt)
	if !strings.Contains(err.Error(), "FIFO") {
		t.Errorf("error does not say what the file is: %v", err)
	}
	returnsOrFails(t, "LoadFileIfChanged of a FIFO", func() { _, _, err = LoadFileIfChanged(path, m, [32]byte{}) }, unblock)
	wantErr(t, "LoadFileIfChanged of a FIFO", err, ErrKeyringCorrupt)
	returnsOrFails(t, "EditFile of a FIFO", func() {
		_, err = EditFile(t.Context(), path, m, func(k *Keyring) error { t.Error("edit called"); return nil })
	}, unblock)
	wantErr(t, "EditFile of a FIFO", err, ErrKeyringCorrupt)
}

// TestLoadKeyringFileDevZero: a symbolic link to /dev/zero (an endless
// file) is refused before any read, without allocating.
func TestLoadKeyringFileDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	m := testMaster(t)
	path := filepath.Join(t.TempDir(), "keyring.json")
	if err := os.Symlink("/dev/zero", path); err != nil {
		t.Fatal(err)
	}
	var err error
	n := allocatedBy(func() { _, err = LoadFile(path, m) })
	wantErr(t, "LoadFile of /dev/zero", err, ErrKeyringCorrupt)
	if n > 64<<10 {
		t.Errorf("LoadFile of /dev/zero allocated %d bytes", n)
	}
	n = allocatedBy(func() { _, _, err = LoadFileIfChanged(path, m, [32]byte{}) })
	wantErr(t, "LoadFileIfChanged of /dev/zero", err, ErrKeyringCorrupt)
	if n > 64<<10 {
		t.Errorf("LoadFileIfChanged of /dev/zero allocated %d bytes", n)
	}
}

// TestLoadKeyringFileOversize: a 256 MiB sparse file is refused from its
// size, before reading: the call allocates a few KiB, not the 1 MiB bound
// (before: about 2 MiB for LoadFile; 258 MiB for the store's watcher).
func TestLoadKeyringFileOversize(t *testing.T) {
	m := testMaster(t)
	path := filepath.Join(t.TempDir(), "keyring.json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	n := allocatedBy(func() { _, err = LoadFile(path, m) })
	wantErr(t, "LoadFile of a 256 MiB file", err, ErrKeyringCorrupt)
	if n > 64<<10 {
		t.Errorf("LoadFile of a 256 MiB file allocated %d bytes", n)
	}
	n = allocatedBy(func() { _, _, err = LoadFileIfChanged(path, m, [32]byte{}) })
	wantErr(t, "LoadFileIfChanged of a 256 MiB file", err, ErrKeyringCorrupt)
	if n > 64<<10 {
		t.Errorf("LoadFileIfChanged of a 256 MiB file allocated %d bytes", n)
	}

	// At the bound, a file is read (and refused for its content); one
	// byte over, it is refused unread.
	for _, size := range []int64{maxFileSize, maxFileSize + 1} {
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path, m)
		wantErr(t, "LoadFile", err, ErrKeyringCorrupt)
		if over := strings.Contains(err.Error(), "exceeds"); over != (size > maxFileSize) {
			t.Errorf("LoadFile of %d bytes: %v", size, err)
		}
	}
}

// TestReadBounded: the read is bounded whatever the size hint from fstat
// said (a file may grow after fstat).
func TestReadBounded(t *testing.T) {
	data := bytes.Repeat([]byte("k"), 3000)
	for _, hint := range []int{0, 1, 2999, 3000, 5000} {
		got, err := readBounded(bytes.NewReader(data), hint)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("readBounded(hint %d): %d bytes, %v", hint, len(got), err)
		}
	}
	// A file that grew past the bound after fstat is refused.
	_, err := readBounded(bytes.NewReader(make([]byte, maxFileSize+1)), 10)
	wantErr(t, "readBounded over the bound", err, ErrKeyringCorrupt)
	got, err := readBounded(bytes.NewReader(make([]byte, maxFileSize)), 10)
	if err != nil || len(got) != maxFileSize {
		t.Fatalf("readBounded at the bound: %d bytes, %v", len(got), err)
	}
}

// countingAEAD counts the master key's Decrypt calls.
type countingAEAD struct {
	tink.AEAD
	decrypts atomic.Int64
}

func (c *countingAEAD) Decrypt(ct, ad []byte) ([]byte, error) {
	c.decrypts.Add(1)
	return c.AEAD.Decrypt(ct, ad)
}

// TestLoadKeyringFileIfChanged: the poller's load reads once, decrypts
// only new bytes, and reports the sum of what it read.
func TestLoadKeyringFileIfChanged(t *testing.T) {
	m := &countingAEAD{AEAD: testMaster(t)}
	path := filepath.Join(t.TempDir(), "keyring.json")
	k := fullKeyring(t)
	if err := k.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, sum, err := LoadFileIfChanged(path, m, [32]byte{})
	if err != nil || got == nil {
		t.Fatalf("first LoadFileIfChanged: %v, %v", got, err)
	}
	sameKeyring(t, k, got)
	if sum != sha256.Sum256(data) {
		t.Fatalf("sum is not the SHA-256 of the file")
	}
	decrypts := m.decrypts.Load()
	again, sum2, err := LoadFileIfChanged(path, m, sum)
	if err != nil || again != nil || sum2 != sum {
		t.Fatalf("unchanged file: %v, %v, same sum %t", again, err, sum2 == sum)
	}
	if m.decrypts.Load() != decrypts {
		t.Fatalf("an unchanged file was decrypted")
	}
	// The permission check runs on every read, changed or not.
	{
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err = LoadFileIfChanged(path, m, sum)
		wantErr(t, "unchanged file made readable by others", err, ErrInsecurePermissions)
		if _, _, err := LoadFileIfChanged(path, m, sum, AllowInsecurePermissions()); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.Stage(); err != nil {
		t.Fatal(err)
	}
	if err := k.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	next, sum3, err := LoadFileIfChanged(path, m, sum)
	if err != nil || next == nil || sum3 == sum {
		t.Fatalf("changed file: %v, %v", next, err)
	}
	sameKeyring(t, k, next)
	_, _, err = LoadFileIfChanged(path, nil, sum)
	wantErr(t, "nil master", err, ErrNoMasterKey)
	_, _, err = LoadFileIfChanged(filepath.Join(t.TempDir(), "missing"), m, sum)
	wantErr(t, "missing file", err, os.ErrNotExist)
}

// TestSaveKeyringFileThroughSymlink: saving to a symbolic link replaces
// the file it points to, atomically, and keeps the link (before, the link
// was replaced by a regular file, detaching a mounted secret). A link to a
// missing file is refused and left alone.
func TestSaveKeyringFileThroughSymlink(t *testing.T) {
	m := testMaster(t)
	dir := t.TempDir()
	realDir := filepath.Join(dir, "..data")
	if err := os.Mkdir(realDir, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(realDir, "keyring.json")
	link := filepath.Join(dir, "keyring.json")
	if err := os.Symlink(filepath.Join("..data", "keyring.json"), link); err != nil {
		t.Fatal(err)
	}
	k := fullKeyring(t)
	if err := k.SaveFile(target, m); err != nil {
		t.Fatal(err)
	}
	check := func(what string, want *Keyring) {
		t.Helper()
		fi, err := os.Lstat(link)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s replaced the symbolic link by a %v", what, fi.Mode())
		}
		got, err := LoadFile(target, m)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		sameKeyring(t, want, got)
		for d, n := range map[string]int{dir: 2, realDir: 1} { // the link and ..data; the file
			entries, err := os.ReadDir(d)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != n {
				t.Fatalf("%s left %v in %s", what, entries, d)
			}
		}
	}
	if _, err := k.Stage(); err != nil {
		t.Fatal(err)
	}
	if err := k.SaveFile(link, m); err != nil {
		t.Fatalf("SaveFile through a link: %v", err)
	}
	check("SaveFile", k)
	edited, err := EditFile(t.Context(), link, m, func(k *Keyring) error { _, err := k.Rotate(); return err })
	if err != nil {
		t.Fatalf("EditFile through a link: %v", err)
	}
	check("EditFile", edited)

	dangling := filepath.Join(dir, "dangling.json")
	if err := os.Symlink("missing.json", dangling); err != nil {
		t.Fatal(err)
	}
	if err := k.SaveFile(dangling, m); err == nil {
		t.Fatalf("SaveFile to a link to a missing file succeeded")
	}
	if fi, err := os.Lstat(dangling); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the dangling link was replaced: %v, %v", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SaveFile created the link's target: %v", err)
	}
}

// TestSaveKeyringFileKeepsOwnerAndMode: replacing a file keeps its owner,
// group and permission bits, so that a root-run edit of the application's
// keyring leaves a file the application can read (before: root-owned,
// 0600).
func TestSaveKeyringFileKeepsOwnerAndMode(t *testing.T) {
	m := testMaster(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring.json")
	k := mustGenerate(t)
	if err := k.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	const uid, gid = 4321, 4322
	root := os.Geteuid() == 0
	if root {
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %04o, want 0640", what, fi.Mode().Perm())
		}
		st := fi.Sys().(*syscall.Stat_t)
		if root && (st.Uid != uid || st.Gid != gid) {
			t.Errorf("%s: owner %d:%d, want %d:%d", what, st.Uid, st.Gid, uid, gid)
		}
	}
	if _, err := k.Stage(); err != nil {
		t.Fatal(err)
	}
	if err := k.SaveFile(path, m); err != nil {
		t.Fatal(err)
	}
	check("SaveFile")
	if _, err := EditFile(t.Context(), path, m, func(k *Keyring) error { _, err := k.Stage(); return err }, AllowInsecurePermissions()); err != nil {
		t.Fatal(err)
	}
	check("EditFile")
	if !root {
		t.Skip("owner not checked: chown needs root")
	}
}

// TestSaveKeyringFileRefusesNonRegular: a FIFO or a directory at the path
// is not replaced.
func TestSaveKeyringFileRefusesNonRegular(t *testing.T) {
	m := testMaster(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	mkfifo(t, fifo)
	if err := mustGenerate(t).SaveFile(fifo, m); err == nil {
		t.Fatalf("SaveFile replaced a FIFO")
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v, %v", fi, err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := mustGenerate(t).SaveFile(sub, m); err == nil {
		t.Fatalf("SaveFile replaced a directory")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("refused saves left %v", entries)
	}
}

// envChownChild names the keyring file that a child process of
// TestSaveKeyringFileCannotKeepOwner, running as another user, saves.
const envChownChild = "ACCOUNTVAULT_TEST_CHOWN_CHILD"

// TestSaveKeyringFileCannotKeepOwner: a user who may write the directory
// but not give files away saves over another user's file: SaveFile fails
// rather than leave a file of another owner, and the file is unchanged.
func TestSaveKeyringFileCannotKeepOwner(t *testing.T) {
	if path := os.Getenv(envChownChild); path != "" {
		err := mustGenerate(t).SaveFile(path, testMaster(t))
		if err == nil || !strings.Contains(err.Error(), "owner") {
			t.Fatalf("SaveFile over another user's file: %v", err)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a process as another user")
	}
	const owner, other = 4321, 4322
	dir, err := os.MkdirTemp("", "keyring-chown-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { // writable by other: the child may create its temporary file
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "keyring.test")
	exe, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keyring.json")
	if err := mustGenerate(t).SaveFile(path, testMaster(t)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, owner, owner); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestSaveKeyringFileCannotKeepOwner$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), envChownChild+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: other, Gid: other}}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestSaveKeyringFileCannotKeepOwner")) {
		t.Fatalf("child running as uid %d: %v\n%s", other, err, out)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); !bytes.Equal(before, after) || st.Uid != owner {
		t.Fatalf("the file was replaced (owner %d)", st.Uid)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 { // the binary and the keyring
		t.Fatalf("the refused save left %v", entries)
	}
}
