package keyring

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// EditFile edits the keyring file at path, so that no edit is lost when
// several processes edit the file at once: it takes the file's exclusive
// lock (waiting for it until ctx is done), loads the file under master
// with the checks of [LoadFile] (opts are LoadFile's), calls edit on the
// keyring, and, if edit returns nil and changed the keyring (its
// [Keyring.Generation] moved), saves it under master as [Keyring.SaveFile]
// does (atomically, through a symbolic link, keeping the file's owner,
// group and mode), then releases the lock. It returns the keyring as
// edited (and saved).
//
// Every EditFile, [RemasterFile] and SaveFile of one file (through any
// path or link to it) takes the same lock: edits run one after the other,
// each on the result of the one before. The lock is flock(2) on a sibling
// file .<name>.lock that exists while it is held; a writer that does not
// take it (a copy, an editor, an older accountvault) is caught by a check
// just before the rename: if the file no longer holds the bytes EditFile
// read, EditFile writes nothing and fails with [ErrChangedMeanwhile].
// Outside Unix nothing is locked and only that check is done.
//
// edit runs with the lock held: it should be quick (no network walk, no
// prompt). Its error is returned as is, and nothing is written. edit must
// not save the file itself.
//
// The file must exist (create one with [Generate] and [Keyring.SaveFile]).
func EditFile(ctx context.Context, path string, master tink.AEAD, edit func(*Keyring) error, opts ...LoadOption) (*Keyring, error) {
	if edit == nil {
		return nil, errors.New("keyring: EditFile: nil edit function")
	}
	return editKeyringFile(ctx, path, master, master, edit, loadOptionsOf(opts))
}

// RemasterFile re-encrypts the keyring file at path under newMaster: it
// loads it under master and saves it, unchanged (same keys, same
// generation), under newMaster, with the lock and the checks of
// [EditFile]. Before it replaces the file, it decrypts what it is about to
// write under newMaster: a new master key that encrypts but does not
// decrypt (a KMS key this caller may only encrypt with) leaves the file
// as it was, with an error wrapping [ErrWrongMasterKey] and newMaster's
// error. It returns the keyring.
func RemasterFile(ctx context.Context, path string, master, newMaster tink.AEAD, opts ...LoadOption) (*Keyring, error) {
	if newMaster == nil {
		return nil, fmt.Errorf("%w: nil new master AEAD", ErrNoMasterKey)
	}
	return editKeyringFile(ctx, path, master, newMaster, nil, loadOptionsOf(opts))
}

// editKeyringFile loads path under master, applies edit (if not nil), and saves
// the result under saveMaster if edit changed it or saveMaster is not
// master.
func editKeyringFile(ctx context.Context, path string, master, saveMaster tink.AEAD, edit func(*Keyring) error, o loadOptions) (k *Keyring, err error) {
	if master == nil {
		return nil, fmt.Errorf("%w: nil master AEAD", ErrNoMasterKey)
	}
	target, err := resolveTarget(path, false)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	lock, err := lockFile(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("keyring: edit %s: %w", path, err)
	}
	defer func() {
		if uerr := lock.unlock(); uerr != nil && err == nil {
			k, err = nil, fmt.Errorf("keyring: edit %s: %w", path, uerr)
		}
	}()
	data, err := readKeyringFile(target, o)
	if err != nil {
		return nil, err
	}
	k, err = unmarshal(data, master)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	generation := k.generation
	if edit != nil {
		if err := edit(k); err != nil {
			return nil, err
		}
		if k.generation == generation {
			return k, nil
		}
	}
	out, err := k.marshal(saveMaster)
	if err != nil {
		return nil, err
	}
	if err := opensUnder(out, master, saveMaster); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The lock and the content check are of target: a symbolic link at
	// path switched to another file meanwhile would send the edit to a
	// file path no longer names.
	relinked := func() error {
		now, err := resolveTarget(path, false)
		if err != nil {
			return fmt.Errorf("keyring: save %s: %w (%v)", path, ErrChangedMeanwhile, err)
		}
		if now != target {
			return fmt.Errorf("keyring: save %s: the link now names another file: %w", path, ErrChangedMeanwhile)
		}
		return nil
	}
	if err := relinked(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if err := replaceFile(target, out, &sum); err != nil {
		return nil, fmt.Errorf("keyring: save %s: %w", path, err)
	}
	if err := relinked(); err != nil {
		return nil, err
	}
	return k, nil
}
