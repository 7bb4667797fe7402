//go:build unix

package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// watchBadFile runs WatchKeyringFile on path, which a keyring-file writer
// made into something that is not a keyring, until the watcher has
// reported reads errors; then it cancels the watcher and waits for it. It
// fails the test if the watcher blocks (rather than hang it: unblock is
// called), if a report is not ErrKeyringCorrupt, or if the store lost its
// keyring. It returns the bytes the Go heap allocated while the watcher
// read the file reads times.
func watchBadFile(t *testing.T, path string, reads int, unblock func()) (allocated uint64) {
	t.Helper()
	env := avtest.New(t, "sqlite")
	k := genKeyring(t)
	s := newStore(t, env, k)
	master, err := keyring.ParseMasterKey(mustMasterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const interval = 10 * time.Millisecond
	reports := make(chan error, 100)
	returned := make(chan error, 1)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	go func() {
		returned <- store.NewAdmin(s).WatchKeyringFile(ctx, path, master, interval, func(err error) {
			select {
			case reports <- err:
			default:
			}
		})
	}()
	var deadline <-chan time.Time
	if d, ok := t.Deadline(); ok {
		deadline = time.After(time.Until(d) - 5*time.Second)
	}
	for range reads {
		select {
		case err := <-reports:
			if !errors.Is(err, keyring.ErrKeyringCorrupt) {
				t.Fatalf("watcher reported %v, want ErrKeyringCorrupt", err)
			}
		case <-deadline:
			unblock()
			t.Fatalf("the watcher reported nothing until the test's deadline: blocked reading %s", path)
		}
	}
	runtime.ReadMemStats(&after)
	cancel()
	cancelled := time.Now()
	select {
	case err := <-returned:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WatchKeyringFile returned %v", err)
		}
	case <-deadline:
		unblock()
		t.Fatalf("the watcher did not return after its context was cancelled")
	}
	t.Logf("returned %v after cancellation (interval %v); %d reads allocated %d bytes", time.Since(cancelled), interval, reads, after.TotalAlloc-before.TotalAlloc)
	if store.NewAdmin(s).PrimaryKeyID() != k.Primary() {
		t.Fatalf("the store lost its keyring")
	}
	return after.TotalAlloc - before.TotalAlloc
}

func mustMasterKey(t *testing.T) string {
	t.Helper()
	mk, err := keyring.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

// TestWatchKeyringFileFIFO: a FIFO at the keyring's path does not block
// the watcher (before, its read blocked in open(2) for good, past the
// context's cancellation): it reports an error at each interval, and
// returns once its context is cancelled.
func TestWatchKeyringFileFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyring.json")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	watchBadFile(t, path, 3, func() {
		// Release a reader blocked in open(2).
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
}

// TestWatchKeyringFileDevZero: a link to /dev/zero is refused without a
// read (before, the watcher read it until memory ran out).
func TestWatchKeyringFileDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	path := filepath.Join(t.TempDir(), "keyring.json")
	if err := os.Symlink("/dev/zero", path); err != nil {
		t.Fatal(err)
	}
	if n := watchBadFile(t, path, 3, func() {}); n > 4<<20 {
		t.Fatalf("3 reads of a link to /dev/zero allocated %d bytes", n)
	}
}

// TestWatchKeyringFileOversize: a 256 MiB sparse file is refused from its
// size (before, each read allocated 258 MiB).
func TestWatchKeyringFileOversize(t *testing.T) {
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
	if n := watchBadFile(t, path, 3, func() {}); n > 4<<20 {
		t.Fatalf("3 reads of a 256 MiB file allocated %d bytes", n)
	}
}
