package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
)

// ErrKeyInUse is returned when disabling or deleting a key-encryption key
// that sealed values still name. The error is a *[KeyInUseError].
var ErrKeyInUse = errors.New("store: key-encryption key still in use")

// KeyInUseError reports how many stored values still name a key.
type KeyInUseError struct {
	KeyID uint32
	Count int
}

func (e *KeyInUseError) Error() string {
	return fmt.Sprintf("store: key %d still protects %d stored values: run rewrap, then check", e.KeyID, e.Count)
}

func (e *KeyInUseError) Is(target error) bool { return target == ErrKeyInUse }

// KeyUsage counts, per key-encryption key id, the sealed values of the table
// that name it, by parsing only (no value is opened: use Check for the
// proof that every value opens). A row the backend cannot read (a time
// that is not epoch seconds) stops it with that row's *RowError: its
// tokens may name any key.
func (a *Admin) KeyUsage(ctx context.Context, opts WalkOptions) (map[uint32]int, error) {
	usage, _, err := a.keyUsage(ctx, opts, nil)
	return usage, err
}

// keyUsage is KeyUsage, also returning the number of rows seen. A row the
// backend cannot read stops it with its error, unless unread is not nil:
// then the row is added to unread and the walk goes on.
func (a *Admin) keyUsage(ctx context.Context, opts WalkOptions, unread *[]*accountvault.RowError) (map[uint32]int, int, error) {
	usage := map[uint32]int{}
	var p Progress
	err := a.walk(ctx, opts, &p, unread, func(raw *accountvault.SealedRow) error {
		for _, v := range sealedFields(raw) {
			if len(v) == 0 || !envelope.IsSealed(v) {
				continue
			}
			id, err := envelope.KeyID(v)
			if err != nil {
				id = 0 // malformed: counted under 0, which no Tink key has
			}
			usage[id]++
		}
		return nil
	})
	return usage, p.Seen, err
}

// CheckRetire answers whether key id may be disabled or deleted: it
// counts the table's values that name it (see [Admin.KeyUsage]) and
// returns nil if there are none, or a *[KeyInUseError] (matching
// [ErrKeyInUse]) with the count. It changes nothing: the caller edits its
// keyring, saves it and reloads the stores.
//
// The count is of the table as it is now. Disable a key only after every
// replica has reloaded a keyring whose primary is another key, and
// rewrap has run since: otherwise a replica still sealing with the old key
// can write values that name it after the count.
func (a *Admin) CheckRetire(ctx context.Context, id uint32, opts WalkOptions) error {
	usage, _, err := a.keyUsage(ctx, opts, nil)
	if err != nil {
		return fmt.Errorf("store: counting uses of key %d: %w", id, err)
	}
	if n := usage[id]; n > 0 {
		return &KeyInUseError{KeyID: id, Count: n}
	}
	a.s.log.Info("accountvault: key may be retired", "table", a.s.table, "key_id", id)
	return nil
}
