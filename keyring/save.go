package keyring

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"google.golang.org/protobuf/proto"

	"github.com/tink-crypto/tink-go/v2/tink"

	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// Save writes the keyring to w, its keyset encrypted by master and its
// metadata (statuses, creation times) authenticated by the same encryption;
// see "File format" in the package documentation. master is used once, for one Encrypt
// call; it may be a KMS client's AEAD.
//
// Save writes to w in a single Write call once everything is encoded. For a
// file, use [Keyring.SaveFile], which also replaces the old file atomically.
func (k *Keyring) Save(w io.Writer, master tink.AEAD) error {
	data, err := k.marshal(master)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("keyring: write keyring: %w", err)
	}
	return nil
}

func (k *Keyring) marshal(master tink.AEAD) ([]byte, error) {
	if k.handle == nil {
		return nil, ErrEmptyKeyring
	}
	if master == nil {
		return nil, fmt.Errorf("%w: nil master AEAD", ErrNoMasterKey)
	}
	pt, err := k.serializeKeyset()
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	ct, err := master.Encrypt(pt, metadataAD(metadataOf(k)))
	if err != nil {
		return nil, fmt.Errorf("keyring: encrypt keyset with the master key: %w", err)
	}
	enc, err := proto.Marshal(&tinkpb.EncryptedKeyset{EncryptedKeyset: ct})
	if err != nil {
		return nil, fmt.Errorf("keyring: serialize encrypted keyset: %w", err)
	}
	f := fileOf(k)
	f.Keyset = b64(enc)
	return encodeFile(f)
}

// SaveFile saves the keyring (see [Keyring.Save]) to the file at path,
// atomically: it writes a temporary file in the same directory, syncs it,
// renames it over path and syncs the directory. A reader sees the old file
// or the new one, never a mix. After a crash, a temporary file named
// .<name>.tmp-* may remain in the directory.
//
// If path is a symbolic link, SaveFile replaces the file the link points
// to, as above, and leaves the link in place (a secret volume mounted
// through links stays mounted); a link to a missing file is refused. If the
// file exists, the new file gets its owner, group and permission bits, so
// that a save run as root leaves a file the application can still read; if
// they cannot be kept (chown is not permitted), SaveFile fails and leaves
// the file as it was. A new file is created with mode 0600. SaveFile
// refuses to replace anything but a regular file.
//
// SaveFile replaces the file whatever it holds: it is for a new file, or a
// file that nothing else edits. To edit a file that others may edit too
// (operators, the accountvault CLI), use [EditFile], which cannot lose
// their edits. SaveFile takes the lock that EditFile takes, without
// waiting: if an edit holds it, SaveFile fails with [ErrChangedMeanwhile].
func (k *Keyring) SaveFile(path string, master tink.AEAD) error {
	data, err := k.marshal(master)
	if err != nil {
		return err
	}
	target, err := resolveTarget(path, true)
	if err != nil {
		return fmt.Errorf("keyring: save %s: %w", path, err)
	}
	lock, err := tryLockFile(target)
	if err != nil {
		return fmt.Errorf("keyring: save %s: %w", path, err)
	}
	if lock == nil {
		return fmt.Errorf("keyring: save %s: another process is editing it: %w", path, ErrChangedMeanwhile)
	}
	err = replaceFile(target, data, nil)
	if uerr := lock.unlock(); err == nil && uerr != nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("keyring: save %s: %w", path, err)
	}
	return nil
}

// resolveTarget returns the file that saving to path replaces: path
// itself, or, if path is a symbolic link, the file it points to (following
// every link). A missing path is a new file if mayCreate, an error
// otherwise; a link to a missing file is an error.
func resolveTarget(path string, mayCreate bool) (string, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && mayCreate:
		return path, nil
	case err != nil:
		return "", err
	case fi.Mode()&fs.ModeSymlink == 0:
		return path, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("symbolic link to a file that cannot be resolved (it is not replaced by a file): %w", err)
	}
	return target, nil
}

// replaceFile replaces target (not a symbolic link) by a file holding data,
// atomically, with the owner, group and permission bits of the file it
// replaces (0600 for a new file). If expect is not nil, it refuses, with
// ErrChangedMeanwhile, when target no longer holds the bytes whose SHA-256
// is *expect, checked after the new file is written and just before the
// rename. The caller holds the lock.
func replaceFile(target string, data []byte, expect *[sha256.Size]byte) error {
	old, err := os.Lstat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	case err != nil:
		return err
	case !old.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%s): not replaced", target, fileKind(old.Mode()))
	}
	dir := filepath.Dir(target)
	tmpName, err := writeTemp(dir, filepath.Base(target), data, old)
	if err != nil {
		return err
	}
	if expect != nil {
		if err := checkUnchanged(target, *expect); err != nil {
			return errors.Join(err, os.Remove(tmpName))
		}
	}
	if err := os.Rename(tmpName, target); err != nil {
		return errors.Join(err, os.Remove(tmpName))
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("saved, but syncing its directory failed: %w", err)
	}
	return nil
}

// checkUnchanged fails with ErrChangedMeanwhile unless path holds the bytes
// whose SHA-256 is want.
func checkUnchanged(path string, want [sha256.Size]byte) error {
	f, err := openNonBlocking(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s was removed: %w", path, ErrChangedMeanwhile)
	}
	if err != nil {
		return err
	}
	defer f.Close() // read-only: a close error loses nothing
	data, _, err := readOpenFile(f, path, loadOptions{allowInsecurePermissions: true})
	if err != nil {
		return fmt.Errorf("%s: %w (%w)", path, ErrChangedMeanwhile, err)
	}
	if sha256.Sum256(data) != want {
		return fmt.Errorf("%s was replaced after it was read: %w", path, ErrChangedMeanwhile)
	}
	return nil
}

// writeTemp writes data to a new file in dir, synced and closed, and
// returns its name. The file has the owner, group and permission bits of
// old, or mode 0600 if old is nil. On error it removes the file.
func writeTemp(dir, name string, data []byte, old os.FileInfo) (tmpName string, err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", err
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				err = errors.Join(err, f.Close())
			}
			err = errors.Join(err, os.Remove(f.Name()))
		}
	}()
	mode := os.FileMode(0o600)
	if old != nil {
		mode = old.Mode().Perm()
		if err := keepOwner(f, old); err != nil {
			return "", err
		}
	}
	// CreateTemp uses 0600 already; do not depend on it. Chmod follows
	// chown, which may clear mode bits.
	if err := f.Chmod(mode); err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	closed = true
	if err := f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for sync there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
