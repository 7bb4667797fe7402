package keyring

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
)

// MaxKeys is the most keys a keyring holds. [Keyring.Stage] refuses to add
// more and [Load] refuses a file listing more. Rotating monthly, it is
// reached after 83 years without deleting a key.
const MaxKeys = 1000

// MaxDeleted is the most deleted key ids a keyring remembers (see
// [Keyring.DeletedKeys]). [Keyring.Delete] refuses to delete more and
// [Load] refuses a file listing more. Deleting a key a day, it is reached
// after 27 years.
const MaxDeleted = 10000

// kekParameters are the parameters of every new key-encryption key:
// XAES-256-GCM with a 12-byte salt (a 192-bit nonce) and the TINK output
// prefix (0x01 || big-endian key id), as tink-go's
// aead.XAES256GCM192BitNonceKeyTemplate. Keys made before hold
// [AES256GCM]: see kek.go.
var kekParameters = xaesGCMParameters

// A Keyring is the editable set of key-encryption keys: a Tink keyset of
// XAES-256-GCM keys (and, in keyrings made before those, AES-256-GCM keys),
// each with a [Status] and a creation time.
//
// A Keyring is what an operator edits and saves (with [EditFile], or
// [Keyring.SaveFile] for a new file); requests use the immutable [KEK]
// built from it by [Keyring.KEK]. Its
// methods are not safe for concurrent use when any of them mutates it
// (Stage, Promote, Rotate, Disable, Enable, Delete); read-only methods may run
// concurrently with each other. To edit a keyring that other goroutines
// read, edit a [Keyring.Clone] and publish the result.
//
// Every mutating method either succeeds or leaves the Keyring unchanged.
// Each one that changes the keyring increments its generation by one (see
// [Keyring.Generation]); a no-op (promoting the primary, disabling a
// disabled key, enabling an enabled one) does not.
//
// The zero Keyring holds no key: its methods return [ErrEmptyKeyring]. Use
// [Generate], [Load] or [LoadFile].
type Keyring struct {
	// handle is immutable: every edit builds a new one, so a Clone can
	// share it.
	handle *keyset.Handle
	// keys is the metadata of every key in handle, in creation order
	// (the order of the keyset and of the file).
	keys []KeyInfo
	// generation counts the edits that changed the keyring: see
	// Generation.
	generation uint64
	// deleted holds the ids of the deleted keys, ascending.
	deleted []uint32
}

// Generate returns a new keyring holding one fresh primary key, at
// generation 1.
func Generate() (*Keyring, error) {
	k := new(Keyring)
	err := k.edit(func(e *editor) error {
		id, err := e.add()
		if err != nil {
			return err
		}
		return e.promote(id)
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Stage adds a fresh key in status [Staged] and returns its id. A staged
// key unwraps but never wraps: see [Status].
func (k *Keyring) Stage() (uint32, error) {
	var id uint32
	err := k.editExisting(func(e *editor) (err error) {
		id, err = e.add()
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// Promote makes key id the primary key, the one that wraps. The key must be
// [Staged] or [DecryptOnly]; the former primary becomes DecryptOnly.
// Promoting the current primary is a no-op. Promote refuses a disabled key
// ([ErrKeyState]) and an unknown id ([ErrKeyNotFound]).
func (k *Keyring) Promote(id uint32) error {
	return k.editExisting(func(e *editor) error { return e.promote(id) })
}

// Rotate stages a fresh key and promotes it at once, returning its id: the
// former primary becomes [DecryptOnly].
//
// Rotate is for a single process. With several replicas, [Keyring.Stage]
// first, let every replica load the staged key, then [Keyring.Promote]:
// otherwise a replica that has not reloaded yet cannot unwrap what the new
// primary wraps.
func (k *Keyring) Rotate() (uint32, error) {
	var id uint32
	err := k.editExisting(func(e *editor) (err error) {
		if id, err = e.add(); err != nil {
			return err
		}
		return e.promote(id)
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// Disable makes key id [Disabled]: it neither wraps nor unwraps, and values
// wrapped by it fail to open with accountvault.ErrUnknownKey. Disable refuses
// the primary key ([ErrKeyState]); disabling a disabled key is a no-op.
//
// Disable does not check that no row still uses the key: the store's key
// retirement does.
func (k *Keyring) Disable(id uint32) error {
	return k.editExisting(func(e *editor) error {
		i, err := e.find(id)
		if err != nil {
			return err
		}
		switch st := e.keys[i].Status; st {
		case Disabled:
			return nil
		case Primary:
			return fmt.Errorf("keyring: cannot disable key %d: it is the primary key; promote another key first: %w", id, ErrKeyState)
		}
		if err := e.m.Disable(id); err != nil {
			return fmt.Errorf("keyring: disable key %d: %w", id, err)
		}
		e.setStatus(i, Disabled)
		return nil
	})
}

// Enable makes a [Disabled] key [DecryptOnly] again: it unwraps, and can be
// promoted. Enabling a key that is not disabled is a no-op.
func (k *Keyring) Enable(id uint32) error {
	return k.editExisting(func(e *editor) error {
		i, err := e.find(id)
		if err != nil {
			return err
		}
		if e.keys[i].Status != Disabled {
			return nil
		}
		if err := e.m.Enable(id); err != nil {
			return fmt.Errorf("keyring: enable key %d: %w", id, err)
		}
		e.setStatus(i, DecryptOnly)
		return nil
	})
}

// Delete removes key id from the keyring. Only a [Disabled] key can be
// deleted: disable it first, and keep it disabled long enough to be sure
// nothing needs it. Once the keyring is saved without it, whatever it
// wrapped is lost for good. Delete refuses any other status
// ([ErrKeyState]), an unknown id ([ErrKeyNotFound]), and a keyring that
// already remembers [MaxDeleted] deleted keys ([ErrKeyState]).
//
// The keyring remembers id as deleted (see [Keyring.DeletedKeys]), in the
// authenticated metadata of the file, so that [CheckSuccessor] refuses a
// keyring in which the key is back.
//
// The key's material is dropped from the Keyring but not overwritten in
// memory; see the package documentation.
func (k *Keyring) Delete(id uint32) error {
	return k.editExisting(func(e *editor) error {
		i, err := e.find(id)
		if err != nil {
			return err
		}
		if st := e.keys[i].Status; st != Disabled {
			return fmt.Errorf("keyring: cannot delete key %d: it is %s; only a disabled key can be deleted: %w", id, st, ErrKeyState)
		}
		if len(e.deleted) >= MaxDeleted {
			return fmt.Errorf("keyring: cannot delete key %d: the keyring already remembers %d deleted keys: %w", id, MaxDeleted, ErrKeyState)
		}
		if err := e.m.Delete(id); err != nil {
			return fmt.Errorf("keyring: delete key %d: %w", id, err)
		}
		e.keys = slices.Delete(e.keys, i, i+1)
		j, _ := slices.BinarySearch(e.deleted, id)
		e.deleted = slices.Insert(e.deleted, j, id)
		e.changed = true
		return nil
	})
}

// Keys describes every key, oldest first (keys created at the same instant
// stay in the order they were added). The slice is the caller's.
func (k *Keyring) Keys() []KeyInfo {
	keys := slices.Clone(k.keys)
	slices.SortStableFunc(keys, func(a, b KeyInfo) int { return a.Created.Compare(b.Created) })
	return keys
}

// Primary returns the id of the primary key, or 0 for a zero Keyring.
// (0 is also a valid, if unlikely, key id: test a zero Keyring with Keys.)
func (k *Keyring) Primary() uint32 {
	for _, ki := range k.keys {
		if ki.Status == Primary {
			return ki.ID
		}
	}
	return 0
}

// Generation returns the keyring's generation: 1 for a keyring made by
// [Generate], incremented by every edit that changes it, and saved with it,
// authenticated by the master key. A keyring loaded from a version 1 file
// (which had no generation) is at generation 0 until its first edit.
// [CheckSuccessor] compares generations.
func (k *Keyring) Generation() uint64 { return k.generation }

// DeletedKeys returns the ids of the keys deleted from the keyring
// ([Keyring.Delete]), ascending. The slice is the caller's.
func (k *Keyring) DeletedKeys() []uint32 { return slices.Clone(k.deleted) }

// Clone returns a copy of k that can be edited without affecting k. The
// two share immutable key material.
func (k *Keyring) Clone() *Keyring {
	return &Keyring{handle: k.handle, keys: slices.Clone(k.keys), generation: k.generation, deleted: slices.Clone(k.deleted)}
}

// editor is an edit in progress: a Tink keyset manager and a copy of the
// metadata, committed together by Keyring.edit.
type editor struct {
	m       *keyset.Manager
	keys    []KeyInfo
	deleted []uint32
	// generation is the keyring's generation once the edit is committed;
	// changed records whether the edit changed anything.
	generation uint64
	changed    bool
}

func (k *Keyring) editExisting(f func(e *editor) error) error {
	if k.handle == nil {
		return ErrEmptyKeyring
	}
	return k.edit(f)
}

// edit runs f on a copy of the keyring and commits the result only if f and
// building the new keyset handle both succeed.
func (k *Keyring) edit(f func(e *editor) error) error {
	if k.generation == math.MaxUint64 {
		return fmt.Errorf("keyring: generation %d cannot be incremented: %w", k.generation, ErrKeyState)
	}
	e := &editor{keys: slices.Clone(k.keys), deleted: slices.Clone(k.deleted), generation: k.generation + 1}
	if k.handle == nil {
		e.m = keyset.NewManager()
	} else {
		e.m = keyset.NewManagerFromHandle(k.handle)
	}
	if err := f(e); err != nil {
		return err
	}
	if !e.changed {
		return nil
	}
	h, err := e.m.Handle()
	if err != nil {
		return fmt.Errorf("keyring: build keyset: %w", err)
	}
	k.handle, k.keys, k.deleted, k.generation = h, e.keys, e.deleted, e.generation
	return nil
}

// setStatus gives key i status st as of the edit's generation.
func (e *editor) setStatus(i int, st Status) {
	e.keys[i].Status = st
	e.keys[i].Since = e.generation
	e.changed = true
}

func (e *editor) find(id uint32) (int, error) {
	i := slices.IndexFunc(e.keys, func(ki KeyInfo) bool { return ki.ID == id })
	if i < 0 {
		return -1, fmt.Errorf("keyring: key %d: %w", id, ErrKeyNotFound)
	}
	return i, nil
}

// add generates a fresh XAES-256-GCM key with TINK prefix, staged.
func (e *editor) add() (uint32, error) {
	if len(e.keys) >= MaxKeys {
		return 0, fmt.Errorf("keyring: keyring already holds %d keys; delete disabled keys first: %w", MaxKeys, ErrKeyState)
	}
	id, err := e.newKey()
	if err != nil {
		return 0, fmt.Errorf("keyring: generate key: %w", err)
	}
	e.keys = append(e.keys, KeyInfo{ID: id, Status: Staged, Created: now(), Since: e.generation})
	e.changed = true
	return id, nil
}

func (e *editor) promote(id uint32) error {
	i, err := e.find(id)
	if err != nil {
		return err
	}
	switch st := e.keys[i].Status; st {
	case Primary:
		return nil
	case Disabled:
		return fmt.Errorf("keyring: cannot promote key %d: it is disabled; enable it first: %w", id, ErrKeyState)
	}
	if err := e.m.SetPrimary(id); err != nil {
		return fmt.Errorf("keyring: promote key %d: %w", id, err)
	}
	for j := range e.keys {
		if e.keys[j].Status == Primary {
			e.setStatus(j, DecryptOnly)
		}
	}
	e.setStatus(i, Primary)
	return nil
}

// now returns the current time in UTC without its monotonic reading, as it
// is stored.
func now() time.Time { return time.Now().UTC().Round(0) }
