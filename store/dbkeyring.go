package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/keyring"
)

// metaKeyring is the metadata name under which a table's database keyring
// is kept.
const metaKeyring = "keyring"

// ErrNotNotified is returned, with the keyring, by [DBKeyring.Edit] and
// the other writes of a DBKeyring when the keyring was saved but the
// backend failed to notify the watchers: they see the new keyring at their
// next poll instead. The edit is done: do not redo it.
var ErrNotNotified = errors.New("store: keyring saved, but watchers were not notified (they load it at their next poll)")

// A KeyringNotifier wakes the processes that watch a table's database
// keyring as soon as it changes. backends/postgres implements it with
// LISTEN/NOTIFY on one dedicated connection; a backend without it (SQLite)
// is polled only.
type KeyringNotifier interface {
	// NotifyKeyring tells the listeners on the table that its keyring
	// changed.
	NotifyKeyring(ctx context.Context) error

	// ListenKeyring calls listening once it listens, and changed at every
	// notification for the table, until ctx is done or it fails; it
	// returns the error (wrapping ctx's once ctx is done).
	ListenKeyring(ctx context.Context, listening, changed func()) error
}

// DBKeyring is a table's database keyring: the encrypted keyring, exactly
// the bytes [keyring.Keyring.Save] writes, kept in the backend's metadata
// beside the accounts table (for backends/sqlite and backends/postgres, a
// row of accountvault_meta), instead of in a file. It is the recommended
// home of the keyring when several replicas share a table: there is no
// file to distribute, edits are compare-and-swap on the stored bytes (no
// lost edit, no lock file), and [Admin.WatchKeyring] brings every replica
// to the new keyring within a poll interval, or at once on Postgres.
//
// DBKeyring implements [keyring.Slot]; its methods add what the store
// knows: the table's recorded keyring generation, and notifications.
// The keyring is encrypted under the master key: a database writer without
// it can delete the keyring, corrupt it or put back an older copy, which
// running stores refuse (see [Store.Reload]) and restarted ones too (the
// recorded generation), but cannot read or change keys.
//
// A DBKeyring is safe for concurrent use.
type DBKeyring struct {
	meta     accountvault.Metadata
	notifier KeyringNotifier // nil if the backend has none
	table    string
}

var _ keyring.Slot = (*DBKeyring)(nil)

// NewDBKeyring returns the database keyring of b's table. b must implement
// [accountvault.Metadata] and [accountvault.TableNamer] (backends/sqlite
// and backends/postgres do); the table must exist (Migrate). NewDBKeyring
// does no I/O.
func NewDBKeyring(b accountvault.Backend) (*DBKeyring, error) {
	meta, ok := b.(accountvault.Metadata)
	if !ok {
		return nil, errors.New("store: the backend keeps no metadata: it cannot hold a database keyring")
	}
	d := &DBKeyring{meta: meta}
	if tn, ok := b.(accountvault.TableNamer); ok {
		d.table = tn.Table()
	}
	d.notifier, _ = b.(KeyringNotifier)
	return d, nil
}

// Get implements [keyring.Slot]: it returns the stored encrypted keyring,
// or an error wrapping both [keyring.ErrNoKeyring] and
// [accountvault.ErrNotFound] if there is none.
func (d *DBKeyring) Get(ctx context.Context) ([]byte, error) {
	v, err := d.meta.Meta(ctx, metaKeyring)
	switch {
	case errors.Is(err, accountvault.ErrNotFound):
		return nil, fmt.Errorf("store: table %q: %w (%w)", d.table, keyring.ErrNoKeyring, err)
	case err != nil:
		return nil, fmt.Errorf("store: reading the database keyring: %w", err)
	}
	return v, nil
}

// Swap implements [keyring.Slot]: it replaces the stored keyring old (nil:
// none) by new if the table still holds old, or returns an error wrapping
// both [keyring.ErrChangedMeanwhile] and [accountvault.ErrConflict]. It
// does not notify watchers (see [DBKeyring.Notify]).
func (d *DBKeyring) Swap(ctx context.Context, old, new []byte) error {
	if new == nil {
		return errors.New("store: a database keyring is never removed by Swap")
	}
	err := d.meta.SwapMeta(ctx, metaKeyring, old, new)
	switch {
	case errors.Is(err, accountvault.ErrConflict):
		return fmt.Errorf("store: table %q: database keyring %w (%w)", d.table, keyring.ErrChangedMeanwhile, err)
	case err != nil:
		return fmt.Errorf("store: writing the database keyring: %w", err)
	}
	return nil
}

// Notify wakes the watchers of the table's keyring ([Admin.WatchKeyring])
// if the backend is a [KeyringNotifier]; otherwise it does nothing. The
// writes of a DBKeyring notify already; Notify is for an operator's tool
// that changed the keyring otherwise.
func (d *DBKeyring) Notify(ctx context.Context) error {
	if d.notifier == nil {
		return nil
	}
	if err := d.notifier.NotifyKeyring(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrNotNotified, err)
	}
	return nil
}

// Load loads the stored keyring under master (see [keyring.LoadSlot]).
func (d *DBKeyring) Load(ctx context.Context, master tink.AEAD) (*keyring.Keyring, error) {
	return keyring.LoadSlot(ctx, d, master)
}

// Create stores k, encrypted under master, as the table's keyring, and
// notifies watchers. It never replaces a stored keyring: if there is one,
// it writes nothing and returns an error wrapping
// [keyring.ErrChangedMeanwhile] and [accountvault.ErrConflict]. This is
// how a keyring file moves into the database: load it and Create it.
func (d *DBKeyring) Create(ctx context.Context, k *keyring.Keyring, master tink.AEAD) error {
	if err := keyring.CreateSlot(ctx, d, k, master); err != nil {
		return err
	}
	return d.Notify(ctx)
}

// Edit edits the stored keyring with [keyring.EditSlot] (compare-and-swap
// on the stored bytes, retried on a fresh load when another edit came
// first: edit may run more than once), and notifies watchers once it is
// saved. Before each call of edit it refuses, with an error wrapping
// [keyring.ErrRollback] (a *[keyring.RollbackError]), a stored keyring
// whose generation is lower than the highest generation the table's stores
// have used: one a database writer (or a restored backup) put back, which
// an edit must not build on, as its generation would climb over the
// record while bringing its retired keys back.
//
// If the edit was saved but the notification failed, Edit returns the
// keyring and an error wrapping [ErrNotNotified].
func (d *DBKeyring) Edit(ctx context.Context, master tink.AEAD, edit func(*keyring.Keyring) error) (*keyring.Keyring, error) {
	if edit == nil {
		return nil, errors.New("store: DBKeyring.Edit: nil edit function")
	}
	saved := &savingSlot{d: d}
	k, err := keyring.EditSlot(ctx, saved, master, func(k *keyring.Keyring) error {
		if err := d.checkRecorded(ctx, k); err != nil {
			return err
		}
		return edit(k)
	})
	if err != nil {
		return nil, err
	}
	if !saved.swapped {
		return k, nil
	}
	return k, d.Notify(ctx)
}

// Remaster re-encrypts the stored keyring under newMaster (see
// [keyring.RemasterSlot]) and notifies watchers, which fail to load it
// (and keep their keyring) until they have newMaster. Like [DBKeyring.Edit],
// it refuses, with an error wrapping [keyring.ErrRollback], a stored
// keyring older than the table's recorded generation.
func (d *DBKeyring) Remaster(ctx context.Context, master, newMaster tink.AEAD) (*keyring.Keyring, error) {
	k, err := keyring.RemasterSlotChecked(ctx, d, master, newMaster, func(k *keyring.Keyring) error {
		return d.checkRecorded(ctx, k)
	})
	if err != nil {
		return nil, err
	}
	return k, d.Notify(ctx)
}

// savingSlot records whether a swap succeeded.
type savingSlot struct {
	d       *DBKeyring
	swapped bool
}

func (s *savingSlot) Get(ctx context.Context) ([]byte, error) { return s.d.Get(ctx) }

func (s *savingSlot) Swap(ctx context.Context, old, new []byte) error {
	err := s.d.Swap(ctx, old, new)
	s.swapped = err == nil
	return err
}

// checkRecorded refuses k if its generation is lower than the table's
// recorded keyring generation.
func (d *DBKeyring) checkRecorded(ctx context.Context, k *keyring.Keyring) error {
	recorded, err := recordedGeneration(ctx, d.meta)
	if err != nil {
		return err
	}
	if gen := k.Generation(); gen < recorded {
		return fmt.Errorf("store: the database keyring is generation %d, but the table's stores have used generation %d "+
			"(an older copy was put back?); refusing to edit it: %w",
			gen, recorded, &keyring.RollbackError{Reason: keyring.OlderGeneration, Current: recorded, Next: gen})
	}
	return nil
}

// recordedGeneration returns the highest keyring generation the stores of
// meta's table have recorded (see raiseGeneration), 0 if none.
func recordedGeneration(ctx context.Context, meta accountvault.Metadata) (uint64, error) {
	v, err := meta.Meta(ctx, metaGeneration)
	switch {
	case errors.Is(err, accountvault.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("store: reading the table's keyring generation: %w", err)
	case len(v) != 8:
		return 0, fmt.Errorf("store: the table's keyring generation record is %d bytes, not 8: %w", len(v), accountvault.ErrDecrypt)
	}
	return binary.BigEndian.Uint64(v), nil
}
