//go:build unix

package keyring

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// hasFlock: edits of a keyring file take its flock(2) lock (see fileLock).
const hasFlock = true

// openNonBlocking opens path for reading with O_NONBLOCK, so that opening
// a FIFO without a writer returns at once instead of waiting for one.
// (O_NONBLOCK has no effect on reads of a regular file.)
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
}

// keepOwner gives f, a new file, the owner and group of old, if they
// differ from f's.
func keepOwner(f *os.File, old os.FileInfo) error {
	want, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	have, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (have.Uid == want.Uid && have.Gid == want.Gid) {
		return nil
	}
	if err := f.Chown(int(want.Uid), int(want.Gid)); err != nil {
		return fmt.Errorf("cannot give the new file the owner %d and group %d of the file it replaces (run as that user, or as root): %w", want.Uid, want.Gid, err)
	}
	return nil
}

// openLockFile opens (creating it if needed) the lock file at path,
// without following a symbolic link and without blocking on a FIFO, and
// checks that it is a regular file. The lock file is empty; mode 0644 lets
// another user wait for it.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.Join(fmt.Errorf("%s is not a regular file (%s)", path, fileKind(fi.Mode())), f.Close())
	}
	return f, nil
}

// flockExclusive takes an exclusive flock on f without waiting, and
// reports whether it did.
func flockExclusive(f *os.File) (bool, error) {
	conn, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	var ferr error
	if err := conn.Control(func(fd uintptr) {
		for {
			ferr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
			if ferr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return false, err
	}
	if errors.Is(ferr, unix.EWOULDBLOCK) {
		return false, nil
	}
	if ferr != nil {
		return false, fmt.Errorf("flock: %w", ferr)
	}
	return true, nil
}
