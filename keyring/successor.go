package keyring

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/tink-crypto/tink-go/v2/keyset"
)

// lineage is the part of a keyring's metadata that orders its versions:
// what a KEK keeps for CheckSuccessor.
type lineage struct {
	generation uint64
	since      map[uint32]uint64 // every key's KeyInfo.Since, disabled keys too
	deleted    []uint32          // ascending
}

func (k *Keyring) lineage() lineage {
	since := make(map[uint32]uint64, len(k.keys))
	for _, ki := range k.keys {
		since[ki.ID] = ki.Since
	}
	return lineage{generation: k.generation, since: since, deleted: slices.Clone(k.deleted)}
}

// Generation returns the generation of the keyring the snapshot was built
// from (see [Keyring.Generation]).
func (s *KEK) Generation() uint64 {
	if s == nil {
		return 0
	}
	return s.lineage.generation
}

// A RollbackReason says why [CheckSuccessor] refused a keyring.
type RollbackReason int

const (
	// OlderGeneration: the keyring's generation is lower than the one in
	// use: an older copy of the file (a backup, a stale replica's copy).
	OlderGeneration RollbackReason = iota + 1

	// SameGenerationDiffers: the keyring has the generation of the one in
	// use but other keys or statuses: two edits of one generation, made
	// on two copies of the file.
	SameGenerationDiffers

	// PrimaryDropped: the keyring disables, deletes or lacks the primary
	// key in use: a replica that has not seen the key demoted would go on
	// wrapping with a key the others cannot unwrap.
	PrimaryDropped

	// DisabledKeyEnabled: the keyring has enabled a key that the keyring
	// in use has disabled, and no edit after the generation in use
	// enabled it.
	DisabledKeyEnabled

	// DeletedKeyEnabled: the keyring has enabled a key that the keyring
	// in use has deleted; the key material of a deleted key can only come
	// back from an older copy of the file.
	DeletedKeyEnabled
)

func (r RollbackReason) String() string {
	switch r {
	case OlderGeneration:
		return "older generation"
	case SameGenerationDiffers:
		return "same generation, other keys"
	case PrimaryDropped:
		return "primary key dropped"
	case DisabledKeyEnabled:
		return "disabled key enabled"
	case DeletedKeyEnabled:
		return "deleted key enabled"
	default:
		return fmt.Sprintf("RollbackReason(%d)", int(r))
	}
}

// A RollbackError is the error of [CheckSuccessor]: it names the two
// generations and, for a reason about one key, the key. It wraps
// [ErrRollback].
type RollbackError struct {
	Reason RollbackReason
	// Current is the generation of the keyring in use; Next that of the
	// refused keyring.
	Current, Next uint64
	// KeyID is the key concerned, for PrimaryDropped, DisabledKeyEnabled
	// and DeletedKeyEnabled; 0 otherwise.
	KeyID uint32
}

func (e *RollbackError) Error() string {
	switch e.Reason {
	case OlderGeneration:
		return fmt.Sprintf("keyring: refusing keyring generation %d: older than generation %d in use (a rollback)", e.Next, e.Current)
	case SameGenerationDiffers:
		return fmt.Sprintf("keyring: refusing keyring generation %d: it holds other keys than generation %d in use (two edits of one generation)", e.Next, e.Current)
	case PrimaryDropped:
		return fmt.Sprintf("keyring: refusing keyring generation %d: it drops key %d, the primary key of generation %d in use", e.Next, e.KeyID, e.Current)
	case DisabledKeyEnabled:
		return fmt.Sprintf("keyring: refusing keyring generation %d: it has key %d enabled, which generation %d in use has disabled", e.Next, e.KeyID, e.Current)
	case DeletedKeyEnabled:
		return fmt.Sprintf("keyring: refusing keyring generation %d: it has key %d enabled, which generation %d in use has deleted", e.Next, e.KeyID, e.Current)
	default:
		return fmt.Sprintf("keyring: refusing keyring generation %d after generation %d: %v", e.Next, e.Current, e.Reason)
	}
}

// Unwrap returns [ErrRollback].
func (e *RollbackError) Unwrap() error { return ErrRollback }

// CheckSuccessor reports whether next may replace current, the keyring in
// use, with an error wrapping [ErrRollback] (a *[RollbackError]) if not. A
// nil current accepts any next. next is refused when
//
//   - its generation is lower than current's ([OlderGeneration]);
//   - its generation is current's but its keys, statuses or deleted keys
//     differ ([SameGenerationDiffers]); generation 0, the generation of
//     every version 1 file, is exempt, as version 1 had no generations;
//   - it does not hold current's primary key enabled (primary, staged or
//     decrypt-only) ([PrimaryDropped]);
//   - it holds enabled a key that current has deleted ([DeletedKeyEnabled]);
//   - it holds enabled a key that current has disabled, unless the edit
//     that enabled it came after current (its [KeyInfo.Since] is greater
//     than current's generation): [Keyring.Enable] on the newest keyring is
//     an operator's decision, an older enabled copy is not
//     ([DisabledKeyEnabled]).
//
// Generations are authenticated by the master key with the rest of the
// metadata: whoever can write the keyring file but does not hold the
// master key can only offer copies that were saved at some time, and
// CheckSuccessor refuses every such copy older than current. It cannot
// tell a newer copy that an operator made by editing an old copy (two
// edits diverging from one generation); [EditFile] prevents that for edits
// of one file.
//
// A store calls CheckSuccessor before replacing its KEK; it does no I/O.
func CheckSuccessor(current, next *KEK) error {
	if next == nil || next.byID == nil {
		return errNilKEK
	}
	if current == nil || current.byID == nil {
		return nil
	}
	c, n := current.lineage, next.lineage
	refuse := func(r RollbackReason, id uint32) error {
		return &RollbackError{Reason: r, Current: c.generation, Next: n.generation, KeyID: id}
	}
	if n.generation < c.generation {
		return refuse(OlderGeneration, 0)
	}
	if n.generation == c.generation && c.generation != 0 && !sameLineage(current, next) {
		return refuse(SameGenerationDiffers, 0)
	}
	if n.generation == 0 && next.primaryID != current.primaryID {
		// Version 1 files carry no generation: nothing tells an old copy
		// from a new one, so such a keyring may not change the primary
		// key (an old copy would bring back a retired one). The first
		// edit with generations lifts this.
		return refuse(PrimaryDropped, current.primaryID)
	}
	if !next.Has(current.primaryID) && !retiredSince(current, next) {
		return refuse(PrimaryDropped, current.primaryID)
	}
	for _, id := range next.ids {
		if _, gone := slices.BinarySearch(c.deleted, id); gone {
			return refuse(DeletedKeyEnabled, id)
		}
		if st, ok := current.status[id]; ok && st == Disabled && n.since[id] <= c.generation {
			return refuse(DisabledKeyEnabled, id)
		}
	}
	return nil
}

// retiredSince reports whether next records that current's primary key was
// retired by an edit made after current: disabled at a later generation, or
// deleted (a key is deleted only once disabled, which its being primary in
// current puts after current). A replica that missed the steps between (it
// never saw the promotion of the new primary) may then take next: it is an
// authentic later keyring, not a copy that lost the key.
func retiredSince(current, next *KEK) bool {
	id := current.primaryID
	if st, ok := next.status[id]; ok {
		return st == Disabled && next.lineage.since[id] > current.lineage.generation
	}
	_, deleted := slices.BinarySearch(next.lineage.deleted, id)
	return deleted && next.lineage.generation > current.lineage.generation
}

// sameLineage reports whether a and b hold the same key ids with the same
// statuses and generations, and the same deleted ids.
func sameLineage(a, b *KEK) bool {
	return maps.Equal(a.status, b.status) && maps.Equal(a.lineage.since, b.lineage.since) && slices.Equal(a.lineage.deleted, b.lineage.deleted)
}

// addKey adds a fresh key-encryption key to m and returns its id. Tests
// replace it to make a key with a chosen id.
var addKey = func(m *keyset.Manager) (uint32, error) {
	return m.AddNewKeyFromParameters(kekParameters)
}

// newKey adds a fresh key whose id is neither a key of the keyring (Tink
// sees to that) nor a deleted key: a deleted id is never given to another
// key, so that CheckSuccessor can tell a deleted key come back.
func (e *editor) newKey() (uint32, error) {
	// With at most MaxDeleted of 2³² ids deleted, a draw hits one with
	// probability below 2⁻¹⁸: 8 draws all hitting is impossible in
	// practice.
	for range 8 {
		id, err := addKey(e.m)
		if err != nil {
			return 0, err
		}
		if _, gone := slices.BinarySearch(e.deleted, id); !gone {
			return id, nil
		}
		// Tink keeps the id unavailable for the next draw.
		if err := e.m.Delete(id); err != nil {
			return 0, err
		}
	}
	return 0, errors.New("keyring: every new key id drawn was the id of a deleted key")
}
