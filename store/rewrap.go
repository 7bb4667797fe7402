package store

import (
	"context"
	"errors"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/keyring"
)

// RewrapReport is the outcome of a Rewrap.
type RewrapReport struct {
	Progress
	// KeyUsage counts, per key id, the sealed values of the table before
	// the rewrap (see Admin.KeyUsage).
	KeyUsage map[uint32]int
	Failures []*accountvault.RowError // the first MaxReportedFailures failing rows
}

// Rewrap moves every sealed value whose data key is wrapped by a key other
// than the keyring's primary onto the primary: it unwraps each row's data
// key and wraps it again. Token ciphertexts are left byte for byte as they
// were, and no token plaintext is produced.
//
// Each row is rewrapped with the store's keyring as it is when the row is
// reached (verified as at first use), so a key promoted while the walk
// runs becomes its target; values on a key this store's keyring holds as
// staged are left alone: another replica has promoted that key already.
//
// Rewrap walks the table in id order, opts.BatchSize rows at a time
// (between opts.After and opts.Until: several walkers may share the table
// by ranges), and writes each page's changed rows by compare-and-swap: in
// one round trip if the backend implements [accountvault.BatchSwapper],
// else one CompareAndSwap per row. A row that a
// concurrent write changed first is left to that write (counted in
// Conflicts; such a write seals with its store's primary key, so rerun
// Rewrap if some replica may not have reloaded the keyring yet). A row that
// cannot be rewrapped (unknown key, tampered) is counted and listed by id,
// logged, and the walk goes on. Legacy plaintext values are left alone
// (EncryptLegacy seals them).
//
// Before it writes anything, Rewrap checks the keys as at first use, then
// walks the table once without writing to count the values per key
// ([Admin.CheckKeys]): if stored values name a key the store's keys lack or
// hold disabled, it returns an error wrapping [ErrMissingKeys] and changes
// nothing. If every sealed value names the primary already, the second walk
// is skipped. If this Admin's CheckKeys has just passed (within
// [KeyCheckReuse], under the same keyring version, over a range that
// covers this one), Rewrap takes its count instead of walking again: an
// operator's tool that checks before it rewraps reads the table twice,
// not three times.
//
// Rewrap may be stopped at any point (ctx) and run again, and several
// processes may run it at once. It returns the report so far together with
// any error that stopped it.
func (a *Admin) Rewrap(ctx context.Context, opts WalkOptions) (RewrapReport, error) {
	var rep RewrapReport
	s := a.s
	kv, err := s.ready(ctx)
	if err != nil {
		return rep, err
	}
	usage, _, err := a.checkKeysOnce(ctx, WalkOptions{BatchSize: opts.BatchSize, After: opts.After, Until: opts.Until})
	rep.KeyUsage = usage
	if err != nil {
		return rep, err
	}
	if onlyKey(usage, kv.PrimaryID()) {
		return rep, nil
	}
	s.log.Info("accountvault: rewrap started", "table", s.table, "primary_key_id", kv.PrimaryID())
	pw := newPageWriter(s.b, func(sw *accountvault.Swap, _ tally, err error) {
		switch {
		case err == nil:
			rep.Rewritten++
		case errors.Is(err, accountvault.ErrConflict):
			rep.Conflicts++
		default:
			rep.Failed++
			addFailure(&rep.Failures, &accountvault.RowError{ID: sw.Old.ID, Err: err})
			s.log.Warn("accountvault: rewrap failed for a row", "table", s.table, "row_id", sw.Old.ID, "error_kind", ErrorKind(err))
		}
	})
	err = a.walkWrites(ctx, opts, &rep.Progress, &rep.Failures, pw, func(raw *accountvault.SealedRow) error {
		// The keyring version current for this row: a key promoted
		// while the walk runs is then its target, never moved back from.
		kv, err := s.ready(ctx)
		if err != nil {
			return err
		}
		orig := sealedFields(raw)
		f := orig
		for c, v := range f {
			if len(v) > 0 && !envelope.IsSealed(v) {
				f[c] = nil // legacy plaintext: not ours to touch here
				continue
			}
			// A value on a key this replica still sees as staged was
			// written by a replica that has promoted it already: it is
			// newer than our primary, not older.
			if id, err := envelope.KeyID(v); err == nil {
				if st, ok := kv.Status(id); ok && st == keyring.Staged {
					f[c] = nil
				}
			}
		}
		out, changed, err := envelope.Rewrap(kv, s.place(raw), f)
		if err != nil {
			rerr := rowError(raw.ID, err)
			rep.Failed++
			addFailure(&rep.Failures, rerr)
			s.log.Warn("accountvault: rewrap failed for a row", "table", s.table, "row_id", raw.ID, "column", rerr.Column, "error_kind", ErrorKind(err))
			return nil
		}
		if !changed {
			rep.Skipped++
			return nil
		}
		w := *raw
		for c, v := range out {
			if v == nil {
				out[c] = orig[c] // keep unsealed values as they were
			}
		}
		setSealed(&w, &out)
		w.UpdatedAt = raw.UpdatedAt // a rewrap is not a user-visible update
		// The row is written back as it was read but for its data keys: a
		// row a database writer made invalid (an oversize scope, say) is
		// this row's failure, not the walk's.
		if err := w.Validate(); err != nil {
			rerr := &accountvault.RowError{ID: raw.ID, Err: err}
			rep.Failed++
			addFailure(&rep.Failures, rerr)
			s.log.Warn("accountvault: rewrap failed for a row", "table", s.table, "row_id", raw.ID, "error_kind", "invalid_row")
			return nil
		}
		pw.add(*raw, w, tally{})
		return nil
	})
	s.log.Info("accountvault: rewrap finished", "table", s.table, "primary_key_id", s.keys.Load().PrimaryID(),
		"seen", rep.Seen, "rewrapped", rep.Rewritten, "skipped", rep.Skipped, "conflicts", rep.Conflicts, "failed", rep.Failed,
		"stopped", err != nil)
	return rep, err
}

// onlyKey reports whether id is the only key that stored values name.
func onlyKey(usage map[uint32]int, id uint32) bool {
	for k, n := range usage {
		if k != id && n > 0 {
			return false
		}
	}
	return true
}
