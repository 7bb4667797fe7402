package store

import (
	"context"
	"errors"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
)

// LegacyReport is the outcome of EncryptLegacy.
type LegacyReport struct {
	Progress
	Sealed   int       // values sealed
	Failures []Failure // the first MaxReportedFailures failing rows
}

// EncryptLegacy seals, in place, every token value that is legacy plaintext
// (a value without the sealed-format prefix, as in a better-auth or pylon
// account table adopted by accountvault). Already sealed values are left as
// they are; each row's plaintext values are sealed under one fresh data key
// wrapped by the primary key.
//
// It has Rewrap's guarantees: bounded memory, id order, CompareAndSwap per
// row (a concurrent write wins: it is sealed already), progress after every
// batch, cancellation between rows, and it is safe to stop, to run again
// and to run from several processes at once.
//
// The table must have been migrated first (the backend's Migrate converts
// TEXT token columns of an adopted table to BLOB/BYTEA without altering a
// value). The store need not be in legacy mode to run it; readers of a
// table that is still being migrated need WithLegacyPlaintext.
func (s *Store) EncryptLegacy(ctx context.Context, opts WalkOptions) (LegacyReport, error) {
	var rep LegacyReport
	// Sealing under a keyring that cannot open the table's existing data
	// would leave rows the rest of the deployment cannot read.
	kek, err := s.ready(ctx)
	if err != nil {
		return rep, err
	}
	s.log.Info("accountvault: encrypt-legacy started", "table", s.table, "primary_key_id", kek.PrimaryID())
	err = s.walk(ctx, opts, &rep.Progress, func(raw accountvault.Account) error {
		kek, err := s.ready(ctx) // the keyring version current for this row
		if err != nil {
			return err
		}
		orig := tokens(&raw)
		var plain envelope.Fields
		n := 0
		for c, v := range orig {
			if len(v) > 0 && !envelope.IsSealed(v) {
				plain[c] = v
				n++
			}
		}
		if n == 0 {
			rep.Skipped++
			return nil
		}
		w := raw
		// Only the plaintext values are sealed here: sealed ones may be
		// larger than the plaintext limit and stay as they are.
		err = w.Validate()
		if err == nil {
			err = checkPlaintext(plain)
		}
		if err == nil {
			err = s.checkPassword(&w)
		}
		if err != nil {
			rep.Failed++
			addFailure(&rep.Failures, &accountvault.RowError{ID: raw.ID, Err: err})
			s.log.Warn("accountvault: encrypt-legacy cannot seal a row", "table", s.table, "row_id", raw.ID, "error", err.Error())
			return nil
		}
		sealed, err := envelope.Seal(kek, s.place(&raw), plain)
		if err != nil {
			return err
		}
		for c, v := range sealed {
			if v == nil {
				sealed[c] = orig[c] // already sealed, or empty: unchanged
			}
		}
		setTokens(&w, sealed)
		w.UpdatedAt = raw.UpdatedAt
		switch err := s.b.CompareAndSwap(ctx, raw, w); {
		case err == nil:
			rep.Rewritten++
			rep.Sealed += n
		case errors.Is(err, accountvault.ErrConflict):
			rep.Conflicts++
		default:
			return err
		}
		return nil
	})
	s.log.Info("accountvault: encrypt-legacy finished", "table", s.table, "seen", rep.Seen, "rows_sealed", rep.Rewritten,
		"values_sealed", rep.Sealed, "skipped", rep.Skipped, "conflicts", rep.Conflicts, "failed", rep.Failed, "stopped", err != nil)
	return rep, err
}
