package keyring

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// A Slot holds one encrypted keyring: the bytes [Keyring.Save] writes,
// kept somewhere other than a file (package store keeps them in the
// database beside the accounts table). A Slot replaces its bytes only by
// compare-and-swap, which is what lets [EditSlot] lose no edit without a
// lock.
//
// The bytes are encrypted and authenticated by the master key, so a Slot
// need not be trusted for confidentiality or integrity: whoever can write
// it without the master key can only empty it, corrupt it, or put back a
// copy it held before, which [CheckSuccessor] and the stores' recorded
// generation refuse.
type Slot interface {
	// Get returns the bytes the slot holds, or an error wrapping
	// [ErrNoKeyring] if it holds none.
	Get(ctx context.Context) ([]byte, error)

	// Swap replaces the bytes old (nil: the slot is empty) by new,
	// atomically, if the slot still holds old. Otherwise it changes
	// nothing and returns an error wrapping [ErrChangedMeanwhile].
	Swap(ctx context.Context, old, new []byte) error
}

// maxEditAttempts bounds how many times EditSlot loads and edits a
// keyring whose slot another edit changed meanwhile.
const maxEditAttempts = 5

// LoadSlot loads the keyring s holds (see [Load]). An empty slot gives an
// error wrapping [ErrNoKeyring]; more than 1 MiB, [ErrKeyringCorrupt].
func LoadSlot(ctx context.Context, s Slot, master tink.AEAD) (*Keyring, error) {
	k, _, err := LoadSlotIfChanged(ctx, s, master, [sha256.Size]byte{})
	return k, err
}

// LoadSlotIfChanged is [LoadSlot] for a caller that polls s, as
// [LoadFileIfChanged] is for a file: it reads s once and returns the
// SHA-256 of the bytes read; if that is prev, it returns a nil Keyring
// and no error without decrypting anything.
func LoadSlotIfChanged(ctx context.Context, s Slot, master tink.AEAD, prev [sha256.Size]byte) (k *Keyring, sum [sha256.Size]byte, err error) {
	if master == nil {
		return nil, sum, fmt.Errorf("%w: nil master AEAD", ErrNoMasterKey)
	}
	data, err := getSlot(ctx, s)
	if err != nil {
		return nil, sum, err
	}
	sum = sha256.Sum256(data)
	if sum == prev {
		return nil, sum, nil
	}
	k, err = unmarshal(data, master)
	if err != nil {
		return nil, sum, err
	}
	return k, sum, nil
}

// getSlot reads s, bounded as a keyring file is.
func getSlot(ctx context.Context, s Slot) ([]byte, error) {
	if s == nil {
		return nil, errors.New("keyring: nil Slot")
	}
	data, err := s.Get(ctx)
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, corrupt("stored keyring of %d bytes exceeds %d", len(data), maxFileSize)
	}
	return data, nil
}

// CreateSlot saves k under master (as [Keyring.Save] does) into s, which
// must be empty: if it holds a keyring already, CreateSlot writes nothing
// and returns an error wrapping [ErrChangedMeanwhile] (a slot's keys may
// protect data: it is never replaced but by an edit of what it holds).
func CreateSlot(ctx context.Context, s Slot, k *Keyring, master tink.AEAD) error {
	if s == nil {
		return errors.New("keyring: nil Slot")
	}
	data, err := k.marshal(master)
	if err != nil {
		return err
	}
	if err := s.Swap(ctx, nil, data); err != nil {
		return fmt.Errorf("keyring: store keyring: %w", err)
	}
	return nil
}

// EditSlot edits the keyring s holds, so that no edit is lost when several
// processes edit it at once, without a lock: it loads the keyring under
// master, calls edit on it, and, if edit returns nil and changed the
// keyring (its [Keyring.Generation] moved), saves it under master by
// compare-and-swap on the bytes it loaded. If another edit replaced them
// meanwhile, EditSlot starts again on the keyring as it is now: edit may
// therefore be called more than once, each time on a freshly loaded
// keyring, and must have no effect but on the keyring it is given. After
// 5 attempts, or if edit itself returns an error wrapping
// [ErrChangedMeanwhile], EditSlot gives up with an error wrapping
// ErrChangedMeanwhile, having saved nothing. It returns the keyring as
// edited (and saved).
//
// edit's error is returned as is, and nothing is written.
func EditSlot(ctx context.Context, s Slot, master tink.AEAD, edit func(*Keyring) error) (*Keyring, error) {
	if edit == nil {
		return nil, errors.New("keyring: EditSlot: nil edit function")
	}
	return editSlot(ctx, s, master, master, edit)
}

// RemasterSlot re-encrypts the keyring s holds under newMaster: it loads
// it under master and saves it, unchanged (same keys, same generation),
// under newMaster, by compare-and-swap as [EditSlot] does. Like
// [RemasterFile], it first decrypts what it is about to store under
// newMaster, and stores nothing if that fails. It returns the keyring.
func RemasterSlot(ctx context.Context, s Slot, master, newMaster tink.AEAD) (*Keyring, error) {
	if newMaster == nil {
		return nil, fmt.Errorf("%w: nil new master AEAD", ErrNoMasterKey)
	}
	return editSlot(ctx, s, master, newMaster, nil)
}

// RemasterSlotChecked is [RemasterSlot] with a check: before each attempt
// saves, check is called on the keyring as loaded, and an error it
// returns is returned as is, with nothing written. check must not change
// the keyring (if it does, nothing is written and an error is returned).
// Package store uses it to refuse re-encrypting a keyring older than the
// one its table has used.
func RemasterSlotChecked(ctx context.Context, s Slot, master, newMaster tink.AEAD, check func(*Keyring) error) (*Keyring, error) {
	if newMaster == nil {
		return nil, fmt.Errorf("%w: nil new master AEAD", ErrNoMasterKey)
	}
	if check == nil {
		return nil, errors.New("keyring: RemasterSlotChecked: nil check function")
	}
	return editSlot(ctx, s, master, newMaster, func(k *Keyring) error {
		generation := k.generation
		if err := check(k); err != nil {
			return err
		}
		if k.generation != generation {
			return errors.New("keyring: RemasterSlotChecked: the check changed the keyring")
		}
		return nil
	})
}

func editSlot(ctx context.Context, s Slot, master, saveMaster tink.AEAD, edit func(*Keyring) error) (*Keyring, error) {
	if master == nil {
		return nil, fmt.Errorf("%w: nil master AEAD", ErrNoMasterKey)
	}
	var last error
	for attempt := range maxEditAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, fmt.Errorf("keyring: edit: %w (after: %w)", err, last)
			}
		}
		data, err := getSlot(ctx, s)
		if err != nil {
			return nil, err
		}
		k, err := unmarshal(data, master)
		if err != nil {
			return nil, err
		}
		generation := k.generation
		if edit != nil {
			if err := edit(k); err != nil {
				return nil, err
			}
			if k.generation == generation && saveMaster == master {
				return k, nil
			}
		}
		out, err := k.marshal(saveMaster)
		if err != nil {
			return nil, err
		}
		if err := opensUnder(out, master, saveMaster); err != nil {
			return nil, err
		}
		if bytes.Equal(out, data) {
			return k, nil // cannot happen (fresh nonce), but a no-op swap is no edit
		}
		err = s.Swap(ctx, data, out)
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, ErrChangedMeanwhile) {
			return nil, fmt.Errorf("keyring: save keyring: %w", err)
		}
		last = err
	}
	return nil, fmt.Errorf("keyring: gave up after %d attempts, each overtaken by another edit: %w", maxEditAttempts, last)
}

// backoff waits a random time that grows with attempt (up to about 50ms),
// so that edits that keep colliding spread out, or until ctx is done.
func backoff(ctx context.Context, attempt int) error {
	limit := int64(3*time.Millisecond) << min(attempt, 4)
	t := time.NewTimer(time.Duration(rand.Int64N(limit)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// opensUnder checks, when a keyring is re-encrypted under another master
// key (saveMaster is not master), that out, the keyring as it is about to
// be written, decrypts under saveMaster: a KMS key may take an Encrypt
// call and refuse Decrypt (a policy granting kms:Encrypt only), and
// writing a keyring that no one here can open would lose the copy under
// the old master key.
func opensUnder(out []byte, master, saveMaster tink.AEAD) error {
	if saveMaster == master {
		return nil
	}
	if _, err := unmarshal(out, saveMaster); err != nil {
		return fmt.Errorf("keyring: the keyring encrypted under the new master key does not decrypt under it (nothing was saved): %w", err)
	}
	return nil
}
