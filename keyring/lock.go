package keyring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// A fileLock is the exclusive lock of one keyring file, held by this
// process. It is a flock(2) lock on the sibling file .<name>.lock, which
// exists only while the lock is held: the holder removes it before
// releasing the lock, and a process that locks a file that is no longer
// the one at that path (removed meanwhile) starts again. The lock only
// excludes other users of this package (EditFile, RemasterFile, SaveFile);
// they check before replacing the file that no one else replaced it.
type fileLock struct {
	f    *os.File
	path string
}

// lockPath returns the lock file of the keyring file target.
func lockPath(target string) string {
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".lock")
}

// tryLockFile takes the lock of target if no one holds it, and returns nil
// without error if someone does.
func tryLockFile(target string) (*fileLock, error) {
	if !hasFlock {
		return &fileLock{}, nil
	}
	path := lockPath(target)
	for {
		f, err := openLockFile(path)
		if err != nil {
			return nil, fmt.Errorf("lock file: %w", err)
		}
		ok, err := flockExclusive(f)
		if err != nil || !ok {
			return nil, errors.Join(closeErr(err, path), f.Close())
		}
		// The holder before us may have removed the file after we
		// opened it: then we hold a lock no one else will look at.
		fi, ferr := f.Stat()
		pi, perr := os.Lstat(path)
		if ferr == nil && perr == nil && os.SameFile(fi, pi) {
			return &fileLock{f: f, path: path}, nil
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("lock file: %w", err)
		}
	}
}

func closeErr(err error, path string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("lock file %s: %w", path, err)
}

// lockFile takes the lock of target, waiting for it until ctx is done.
func lockFile(ctx context.Context, target string) (*fileLock, error) {
	wait := 2 * time.Millisecond
	for {
		l, err := tryLockFile(target)
		if err != nil || l != nil {
			return l, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for the lock of %s held by another edit: %w", target, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// unlock removes the lock file and releases the lock.
func (l *fileLock) unlock() error {
	if l.f == nil {
		return nil
	}
	err := os.Remove(l.path)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("releasing lock file: %w", err)
	}
	return nil
}
