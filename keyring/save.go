package keyring

import (
	"errors"
	"fmt"
	"io"
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
	ct, err := master.Encrypt(pt, metadataAD(k.keys))
	if err != nil {
		return nil, fmt.Errorf("keyring: encrypt keyset with the master key: %w", err)
	}
	enc, err := proto.Marshal(&tinkpb.EncryptedKeyset{EncryptedKeyset: ct})
	if err != nil {
		return nil, fmt.Errorf("keyring: serialize encrypted keyset: %w", err)
	}
	return encodeFile(&fileV1{
		Version: formatVersion,
		Keyset:  b64(enc),
		Keys:    fileKeys(k.keys),
	})
}

// SaveFile saves the keyring (see [Keyring.Save]) to the file at path,
// atomically: it writes a temporary file in the same directory with mode
// 0600, syncs it, renames it over path and syncs the directory. A reader
// sees the old file or the new one, never a mix. The new file has mode 0600
// whatever the old one had. After a crash, a temporary file named
// .<name>.tmp-* may remain in the directory.
func (k *Keyring) SaveFile(path string, master tink.AEAD) error {
	data, err := k.marshal(master)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmpName, err := writeTemp(dir, filepath.Base(path), data)
	if err != nil {
		return fmt.Errorf("keyring: save %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("keyring: save %s: %w", path, errors.Join(err, os.Remove(tmpName)))
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("keyring: saved %s, but syncing its directory failed: %w", path, err)
	}
	return nil
}

// writeTemp writes data to a new file of mode 0600 in dir, synced and
// closed, and returns its name. On error it removes the file.
func writeTemp(dir, name string, data []byte) (tmpName string, err error) {
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
	// CreateTemp uses 0600 already; do not depend on it.
	if err := f.Chmod(0o600); err != nil {
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
