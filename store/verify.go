package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/keyring"
)

// probeRows is how many rows a keyring check samples when the table has no
// key-check value that opens.
const probeRows = 100

// keyCheckPlain is what the key-check value seals.
var keyCheckPlain = []byte("accountvault key check v1")

// keyCheckPlace is where the key-check value is bound: a place no row can
// have, as user ids are never empty.
func (s *Store) keyCheckPlace() envelope.Place {
	return envelope.Place{Table: s.table, ProviderID: "accountvault", AccountID: metaKeyCheck}
}

// ready returns the current key version, after checking once that it
// opens the table's data (see Admin.CheckKeyring). Callers seal and open
// with the version it returns, so that what they use is what was checked,
// even while Reload swaps versions.
func (s *Store) ready(ctx context.Context) (*keyVersion, error) {
	kv := s.keys.Load()
	if s.verified.Load() == kv {
		return kv, nil
	}
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	kv = s.keys.Load()
	if s.verified.Load() == kv {
		return kv, nil
	}
	if err := s.verify(ctx, kv); err != nil {
		return nil, err
	}
	s.verified.Store(kv)
	s.anchored.Store(true)
	return kv, nil
}

// since returns the key version to open rows with that were read after
// kv was taken: the current version if Reload has swapped versions
// meanwhile (checked as ready checks it), else kv. A call in flight across
// a Reload may read a row that a call begun after it sealed under a key
// only the newer version holds (a rotation's new primary); the newer
// version opens everything kv opens, unless the reload disabled a key.
func (s *Store) since(ctx context.Context, kv *keyVersion) (*keyVersion, error) {
	if s.keys.Load() == kv {
		return kv, nil
	}
	return s.ready(ctx)
}

// verify checks that kv opens the table's data, and, in legacy-read mode,
// that the table is being adopted.
//
// The evidence is, first, the table's key-check value: a constant sealed by
// the first store that verified a keyring on the table, kept in the
// backend's metadata. If it opens, kv is right, whatever the rows hold: a
// database writer who inserts garbage rows cannot make a right keyring look
// wrong. If there is none, or it does not open (its key has been retired,
// or it was damaged), verify samples the first probeRows rows in id order
// and requires one sealed row among them to open; an empty table, or one
// holding no sealed value, passes. Either way a passing check (re)writes
// the key-check value under kv's primary key when it is missing, did not
// open, or is on another key.
//
// A keyring that passes is then held to the table's recorded keyring
// generation (raiseGeneration): a lower one is refused as a rollback.
func (s *Store) verify(ctx context.Context, kv *keyVersion) error {
	if s.legacyRead {
		open, err := s.legacyOpen(ctx)
		if err != nil {
			return err
		}
		if !open {
			return ErrLegacyClosed
		}
	}
	check, checkOK, err := s.opensData(ctx, kv)
	if err != nil {
		return err
	}
	// Only a keyring that opens the table's data may move the recorded
	// generation: another deployment's keyring is ErrWrongKeyring above,
	// whatever its generation.
	if err := s.raiseGeneration(ctx, kv); err != nil {
		return err
	}
	if checkOK {
		if id, err := envelope.KeyID(check); err == nil && id == kv.PrimaryID() {
			return nil
		}
	}
	s.writeKeyCheck(ctx, kv, check)
	return nil
}

// opensData returns an error wrapping ErrWrongKeyring unless kv opens the
// key-check value or, failing that, a sampled sealed row (see verify). It
// returns the stored key-check value and whether it opened.
func (s *Store) opensData(ctx context.Context, kv *keyVersion) ([]byte, bool, error) {
	check, checkOK, err := s.openKeyCheck(ctx, kv)
	if err != nil {
		return nil, false, err
	}
	if !checkOK {
		if err := s.sampleRows(ctx, kv); err != nil {
			return nil, false, err
		}
	}
	return check, checkOK, nil
}

// openKeyCheck reads the key-check value and reports whether it opens with
// kv. It returns the stored value (nil if none) for a later swap.
func (s *Store) openKeyCheck(ctx context.Context, kv *keyVersion) ([]byte, bool, error) {
	if s.meta == nil {
		return nil, false, nil
	}
	v, err := s.meta.Meta(ctx, metaKeyCheck)
	switch {
	case errors.Is(err, accountvault.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("store: reading the table's key-check value: %w", err)
	}
	plain, err := envelope.Open(kv, s.keyCheckPlace(), envelope.Fields{v})
	if err != nil || string(plain[0]) != string(keyCheckPlain) {
		return v, false, nil
	}
	return v, true, nil
}

// writeKeyCheck replaces the key-check value old (nil: none) with one
// sealed under kv's primary key. It is best effort: the check has passed
// already, and a failure to record it (a read-only connection, a
// concurrent writer) only means the next check samples rows again. A
// failure is logged.
func (s *Store) writeKeyCheck(ctx context.Context, kv *keyVersion, old []byte) {
	if s.meta == nil {
		return
	}
	sealed, err := envelope.Seal(kv, s.keyCheckPlace(), envelope.Fields{keyCheckPlain})
	if err == nil {
		err = s.meta.SwapMeta(ctx, metaKeyCheck, old, sealed[0])
	}
	switch {
	case err == nil:
		s.log.Info("accountvault: key-check value written", "table", s.table, "key_id", kv.PrimaryID())
	case errors.Is(err, accountvault.ErrConflict):
	default:
		s.log.Warn("accountvault: cannot write the key-check value", "table", s.table, "error", err.Error())
	}
}

// sampleRows checks kv against the table's first rows, among those the
// backend can read.
func (s *Store) sampleRows(ctx context.Context, kv *keyVersion) error {
	// Rows the backend cannot read (a time that is not epoch seconds)
	// fail alone, as everywhere: the sample is the rows it could read.
	rows, _, err := readRows(s.b.List(ctx, "", probeRows))
	if err != nil {
		return fmt.Errorf("store: sampling rows to verify the keyring: %w", err)
	}
	sealed := 0
	var first error
	var firstID string
	for i := range rows {
		r := &rows[i]
		f := sealedFields(r)
		hasSealed := false
		for c, v := range f {
			if !envelope.IsSealed(v) {
				f[c] = nil
				continue
			}
			hasSealed = true
		}
		if !hasSealed {
			continue
		}
		sealed++
		if _, err := envelope.Open(kv, s.place(r), f); err != nil {
			if first == nil {
				first, firstID = err, r.ID
			}
			continue
		}
		return nil
	}
	if sealed > 0 {
		return fmt.Errorf("%w: the table's key-check value does not open, nor does any of the %d sealed rows sampled (row %q: %w)",
			ErrWrongKeyring, sealed, firstID, first)
	}
	return nil
}

// raiseGeneration compares kv's generation with the highest the table's
// stores have used, recorded in the backend's metadata: a lower one is a
// rollback, refused with an error wrapping keyring.ErrRollback (a restarted
// replica handed an old keyring file); a higher one is recorded, by
// compare-and-swap, so the record only ever rises. Without metadata there
// is no record, and only Reload's in-memory check applies.
//
// A store that has verified keys before (anchored) accepts a lower
// generation than recorded: its keys reached it through Reload's successor
// check from verified ones, so the record is ahead because other replicas
// are, between an edit and this store's reload of it; refusing would fail
// its requests for that moment.
func (s *Store) raiseGeneration(ctx context.Context, kv *keyVersion) error {
	if s.meta == nil {
		return nil
	}
	gen := kv.Generation()
	for range 10 {
		old, err := s.meta.Meta(ctx, metaGeneration)
		var recorded uint64
		switch {
		case errors.Is(err, accountvault.ErrNotFound):
			old = nil
		case err != nil:
			return fmt.Errorf("store: reading the table's keyring generation: %w", err)
		case len(old) != 8:
			return fmt.Errorf("store: the table's keyring generation record is %d bytes, not 8: %w", len(old), accountvault.ErrDecrypt)
		default:
			recorded = binary.BigEndian.Uint64(old)
		}
		switch {
		case gen < recorded && s.anchored.Load():
			// Reload accepted kv as a successor of keys this store
			// verified: other replicas have loaded a newer keyring
			// already, and this store's watcher will follow.
			s.log.Info("accountvault: other stores use a newer keyring generation", "table", s.table,
				"generation", gen, "recorded_generation", recorded)
			return nil
		case gen < recorded:
			s.log.Warn("accountvault: keyring refused: rollback", "table", s.table,
				"generation", gen, "recorded_generation", recorded)
			return fmt.Errorf("store: the table's stores have used keyring generation %d, this keyring is generation %d "+
				"(an older copy?); if the newer keyring is truly lost, see `accountvault keys override-generation`: %w",
				recorded, gen, &keyring.RollbackError{Reason: keyring.OlderGeneration, Current: recorded, Next: gen})
		case gen == recorded && old != nil:
			return nil
		}
		next := binary.BigEndian.AppendUint64(nil, gen)
		switch err := s.meta.SwapMeta(ctx, metaGeneration, old, next); {
		case err == nil:
			s.log.Info("accountvault: keyring generation recorded", "table", s.table, "generation", gen, "previous", recorded)
			return nil
		case errors.Is(err, accountvault.ErrConflict):
			continue // another store recorded one meanwhile: compare again
		case errors.Is(err, accountvault.ErrDatabaseSetup):
			// A read-only connection or role (a standby): this store
			// cannot raise the record, but it was not refused by it either;
			// a store that can write raises it. Logged, not fatal.
			s.log.Warn("accountvault: cannot record the keyring generation", "table", s.table, "generation", gen, "error", err.Error())
			return nil
		default:
			return fmt.Errorf("store: recording the keyring generation: %w", err)
		}
	}
	return fmt.Errorf("store: recording the keyring generation: %w", accountvault.ErrConflict)
}
