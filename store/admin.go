package store

import (
	"context"
	"encoding/binary"
	"errors"

	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/accountvault/accountvault"
)

// Admin is the operator's side of a [Store]: the work that walks or checks
// the whole table, and that an auth server's request path never needs.
// Rewrap moves data keys to the primary key after a rotation; Check opens
// every value and counts them per key, the evidence that an old key can be
// retired; CheckRetire answers whether one may be; EncryptLegacy seals the
// plaintext tokens of an adopted table; CheckKeyring and CheckKeys verify
// a keyring against the table before anything is written; and
// WatchKeyringFile keeps the store's keyring in step with a file.
//
// An Admin uses its Store's keys and table, and reloads through it. It is
// safe for concurrent use.
type Admin struct {
	s *Store
	// passed is the last CheckKeys that found no missing key.
	passed atomic.Pointer[keyCheck]
}

// KeyCheckReuse is how long a passed [Admin.CheckKeys] spares
// [Admin.Rewrap] its own count of the table's keys (see Rewrap).
const KeyCheckReuse = time.Minute

// keyCheck is a CheckKeys that passed.
type keyCheck struct {
	kv           *keyVersion // the keys it checked against
	after, until string      // the range it walked
	usage        map[uint32]int
	rows         int
	at           time.Time
}

// covers reports whether c, a check over c's range, is one over o's too.
func (c *keyCheck) covers(o WalkOptions) bool {
	return c.after <= o.After && (c.until == "" || (o.Until != "" && o.Until <= c.until))
}

// NewAdmin returns the operator's side of s.
func NewAdmin(s *Store) *Admin { return &Admin{s: s} }

// Store returns the Store a is the operator's side of.
func (a *Admin) Store() *Store { return a.s }

// PrimaryKeyID returns the id of the key-encryption key that new writes use.
func (a *Admin) PrimaryKeyID() uint32 { return a.s.keys.Load().PrimaryID() }

// KeyIDs returns the ids of the keys the store can open values with.
func (a *Admin) KeyIDs() []uint32 { return a.s.keys.Load().KeyIDs() }

// CheckKeyring checks that the store's current keys open the table's data
// (see the store's first-use check), now, and records the result: it
// returns an error wrapping [ErrWrongKeyring] and the cause if they do
// not, and [ErrLegacyClosed] for a legacy-read store on a table that is not
// being adopted.
func (a *Admin) CheckKeyring(ctx context.Context) error {
	s := a.s
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	kv := s.keys.Load()
	if err := s.verify(ctx, kv); err != nil {
		return err
	}
	s.verified.Store(kv)
	s.anchored.Store(true)
	return nil
}

// MissingKeysError lists the keys that stored values name but the store's
// keys do not hold enabled, with how many values name each.
type MissingKeysError struct {
	Missing  map[uint32]int // not held at all
	Disabled map[uint32]int // held, but disabled
}

func (e *MissingKeysError) Error() string {
	var parts []string
	for _, id := range sortedKeys(e.Missing) {
		parts = append(parts, fmt.Sprintf("key %d (used by %d values) is not in the keyring", id, e.Missing[id]))
	}
	for _, id := range sortedKeys(e.Disabled) {
		parts = append(parts, fmt.Sprintf("key %d (used by %d values) is disabled in the keyring", id, e.Disabled[id]))
	}
	return "store: " + strings.Join(parts, "; ")
}

func (e *MissingKeysError) Is(target error) bool { return target == ErrMissingKeys }

// CheckKeys counts the values per key (as [Admin.KeyUsage]) and returns an
// error wrapping [ErrMissingKeys] if a key they name is missing from the
// store's keys or disabled there. Key id 0 counts malformed values, which
// no key opens: those are Check's and Rewrap's to report, row by row. It
// returns the usage and the number of rows seen either way. Rows the
// backend cannot read (a time that is not epoch seconds) are skipped, not
// counted: the walks that follow (Check, Rewrap, EncryptLegacy) list them.
// [Admin.KeyUsage], the evidence for retiring a key, stops at one instead.
func (a *Admin) CheckKeys(ctx context.Context, opts WalkOptions) (usage map[uint32]int, rows int, err error) {
	var unread []*accountvault.RowError
	usage, rows, err = a.keyUsage(ctx, opts, &unread)
	if err != nil {
		return usage, rows, err
	}
	kv := a.s.keys.Load()
	enabled := map[uint32]bool{}
	for _, id := range kv.KeyIDs() {
		enabled[id] = true
	}
	e := &MissingKeysError{Missing: map[uint32]int{}, Disabled: map[uint32]int{}}
	for id, n := range usage {
		if id == 0 || n == 0 || enabled[id] {
			continue
		}
		if _, known := kv.Status(id); known {
			e.Disabled[id] = n
		} else {
			e.Missing[id] = n
		}
	}
	if len(e.Missing)+len(e.Disabled) > 0 {
		return usage, rows, e
	}
	a.passed.Store(&keyCheck{kv: kv, after: opts.After, until: opts.Until, usage: maps.Clone(usage), rows: rows, at: time.Now()})
	return usage, rows, nil
}

// checkKeysOnce is CheckKeys, or the result of the last one that passed if
// it is recent (KeyCheckReuse), under the current key version, and over a
// range that covers opts'.
func (a *Admin) checkKeysOnce(ctx context.Context, opts WalkOptions) (map[uint32]int, int, error) {
	if c := a.passed.Load(); c != nil && c.kv == a.s.keys.Load() && c.covers(opts) && time.Since(c.at) < KeyCheckReuse {
		return maps.Clone(c.usage), c.rows, nil
	}
	return a.CheckKeys(ctx, opts)
}

func sortedKeys[V any](m map[uint32]V) []uint32 {
	ids := make([]uint32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// OverrideKeyringGeneration lowers the table's recorded keyring generation
// to that of the store's current keys, so that stores holding them are no
// longer refused as a rollback. It is the operator's recovery from a
// keyring that is truly lost (every copy of the newer generation gone), and
// nothing else: it re-admits every older copy of the keyring down to that
// generation, including ones in which a retired key is primary. It logs an
// audit event at warning level, and returns the generation it replaced.
//
// It first checks that the keys open the table's data (the key-check value
// or a sampled row), and changes nothing if they do not (ErrWrongKeyring).
// Values sealed under keys they lack are not looked for: CheckKeys and
// Check count them.
func (a *Admin) OverrideKeyringGeneration(ctx context.Context) (previous uint64, err error) {
	s := a.s
	if s.meta == nil {
		return 0, errors.New("store: the backend keeps no metadata: there is no recorded generation to override")
	}
	kv := s.keys.Load()
	// Never lower the record for keys that do not open the table's data
	// (a wrong keyring, or the wrong table): that would re-admit older
	// copies and change nothing else.
	if _, _, err := s.opensData(ctx, kv); err != nil {
		return 0, err
	}
	gen := kv.Generation()
	old, err := s.meta.Meta(ctx, metaGeneration)
	switch {
	case errors.Is(err, accountvault.ErrNotFound):
		old = nil
	case err != nil:
		return 0, fmt.Errorf("store: reading the table's keyring generation: %w", err)
	case len(old) == 8:
		previous = binary.BigEndian.Uint64(old)
	}
	if err := s.meta.SwapMeta(ctx, metaGeneration, old, binary.BigEndian.AppendUint64(nil, gen)); err != nil {
		return previous, fmt.Errorf("store: overriding the keyring generation: %w", err)
	}
	s.log.Warn("accountvault: keyring generation overridden by the operator", "table", s.table,
		"generation", gen, "previous_generation", previous)
	// The next call checks the keys again, against the new record.
	s.verified.Store(nil)
	return previous, nil
}
