package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/keyring"
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

// RetireOptions configure DisableKey and DeleteKey.
type RetireOptions struct {
	// Force skips the usage count: values still sealed under the key
	// become unreadable. Never needed in a normal rotation.
	Force bool
	Walk  WalkOptions
}

// KeyUsage counts, per key-encryption key id, the sealed values of the table
// that name it, by parsing only (no value is opened: use Check for the
// proof that every value opens).
func (s *Store) KeyUsage(ctx context.Context, opts WalkOptions) (map[uint32]int, error) {
	usage := map[uint32]int{}
	var p Progress
	err := s.walk(ctx, opts, &p, func(raw accountvault.Account) error {
		for _, v := range tokens(&raw) {
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
	return usage, err
}

// DisableKey disables key id in k after checking that no value of the table
// names it (unless opts.Force). It edits k only; save k and Reload the
// stores to make it effective.
func (s *Store) DisableKey(ctx context.Context, k *keyring.Keyring, id uint32, opts RetireOptions) error {
	return s.retire(ctx, k, id, opts, "disabled", k.Disable)
}

// DeleteKey deletes the disabled key id from k after the same check as
// DisableKey.
func (s *Store) DeleteKey(ctx context.Context, k *keyring.Keyring, id uint32, opts RetireOptions) error {
	return s.retire(ctx, k, id, opts, "deleted", k.Delete)
}

func (s *Store) retire(ctx context.Context, k *keyring.Keyring, id uint32, opts RetireOptions, verb string, do func(uint32) error) error {
	if !opts.Force {
		usage, err := s.KeyUsage(ctx, opts.Walk)
		if err != nil {
			return fmt.Errorf("store: counting uses of key %d: %w", id, err)
		}
		if n := usage[id]; n > 0 {
			return &KeyInUseError{KeyID: id, Count: n}
		}
	}
	if err := do(id); err != nil {
		return err
	}
	s.log.Info("accountvault: key "+verb, "table", s.table, "key_id", id, "forced", opts.Force)
	return nil
}
