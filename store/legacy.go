package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
)

// LegacyReport is the outcome of EncryptLegacy.
type LegacyReport struct {
	Progress
	Sealed int // values sealed
	// BetterAuth counts the values among Sealed that were better-auth
	// ciphertext, opened with the secrets of WithBetterAuthSecrets: the
	// tokens they held were sealed.
	BetterAuth int
	// Finished reports that this run completed the table's adoption: it
	// walked the whole table without a failure or a conflict, so the
	// table holds no legacy plaintext, and it recorded so. From then on
	// every unsealed value is unexpected, and WithLegacyPlaintext is
	// refused.
	Finished bool
	// Remaining counts the legacy values the closing scan of a clean run
	// found (rows a legacy writer still running inserted behind the
	// walk's cursor): the adoption is then not finished; stop the legacy
	// writers and run again.
	Remaining int
	Failures  []*accountvault.RowError // the first MaxReportedFailures failing rows
}

// EncryptLegacy seals, in place, the legacy plaintext tokens of a table
// being adopted (a better-auth or pylon account table, after the backend's
// Adopt). Already sealed values are left as they are; each row's legacy
// values are sealed under one fresh data key wrapped by the primary key.
//
// What is legacy is decided from the table's adoption state (recorded by
// Adopt in the backend's metadata, see [accountvault.Metadata]), the row,
// and the value, never from the value's first byte alone: a value is
// legacy plaintext only if the table is being adopted, the row holds no
// sealed value, and the value is UTF-8 text without NUL bytes. Any other
// unsealed value (one a database writer planted beside a victim's sealed
// tokens, a sealed value with a damaged prefix, anything in a table whose
// adoption has finished) is never sealed: it is a failure of the row,
// counted, listed by row id and column with
// [accountvault.ErrUnexpectedPlaintext], and logged, and the walk goes on.
// Nothing seals such a value: the operator clears it (the user then links
// the account again), after finding out how it got there.
//
// Tokens that better-auth encrypted (its encryptOAuthTokens option) are
// opened first, with the secrets of [WithBetterAuthSecrets], and the
// tokens they hold are sealed. A legacy value that has the shape of
// better-auth ciphertext and is not opened (a wrong or missing secret, a
// "$ba$" value under [WithBetterAuthPlaintext], or no better-auth option
// at all: see WithBetterAuthPlaintext for the rule) fails its row with
// [ErrBetterAuthCiphertext], and nothing of that row is sealed.
//
// A run that starts at the beginning of the table (opts.After empty) and
// walks all of it without a failure or a conflict finishes the adoption:
// it records that the table holds no legacy plaintext any more
// (Finished). A conflict does not finish it, as the write that won may be
// the adopted application's, in plaintext: run again.
//
// It has Rewrap's guarantees: bounded memory, id order (within
// opts.After and opts.Until), compare-and-swap per row, a page per round
// trip where the backend batches (a concurrent write wins; see above),
// progress after every batch, cancellation between batches, and it is safe to stop, to run again
// and to run from several processes at once. The store need not be in
// legacy-read mode to run it; readers of a table that is still being
// adopted need WithLegacyPlaintext.
func (a *Admin) EncryptLegacy(ctx context.Context, opts WalkOptions) (LegacyReport, error) {
	s := a.s
	var rep LegacyReport
	// Sealing under a keyring that cannot open the table's existing data
	// would leave rows the rest of the deployment cannot read.
	kv, err := s.ready(ctx)
	if err != nil {
		return rep, err
	}
	open, err := s.legacyOpen(ctx)
	if err != nil {
		return rep, err
	}
	s.log.Info("accountvault: encrypt-legacy started", "table", s.table, "primary_key_id", kv.PrimaryID(), "legacy_open", open,
		"better_auth", s.betterAuth.String())
	pw := newPageWriter(s.b, func(sw *accountvault.Swap, t tally, err error) {
		switch {
		case err == nil:
			rep.Rewritten++
			rep.Sealed += t.sealed
			rep.BetterAuth += t.betterAuth
		case errors.Is(err, accountvault.ErrConflict):
			rep.Conflicts++
		default:
			rep.Failed++
			addFailure(&rep.Failures, &accountvault.RowError{ID: sw.Old.ID, Err: err})
			s.log.Warn("accountvault: encrypt-legacy cannot seal a row", "table", s.table, "row_id", sw.Old.ID, "error_kind", ErrorKind(err))
		}
	})
	err = a.walkWrites(ctx, opts, &rep.Progress, &rep.Failures, pw, func(raw *accountvault.SealedRow) error {
		kv, err := s.ready(ctx) // the key version current for this row
		if err != nil {
			return err
		}
		orig := sealedFields(raw)
		var plain envelope.Fields
		n := 0
		var bad error
		ba := 0
		for c, k := range classify(&orig, open) {
			switch k {
			case valueLegacy:
				tok, encrypted, err := s.betterAuth.openLegacy(envelope.Column(c), orig[c])
				if err != nil {
					bad = errors.Join(bad, &envelope.ColumnError{Column: envelope.Column(c), Err: err})
					continue
				}
				plain[c] = tok
				n++
				if encrypted {
					ba++
				}
			case valueUnexpected:
				bad = errors.Join(bad, unsealedError(envelope.Column(c), k))
			}
		}
		if bad == nil && n == 0 {
			rep.Skipped++
			return nil
		}
		w := *raw
		if bad == nil {
			// Only the legacy values are sealed here: sealed ones may be
			// larger than the plaintext limit and stay as they are.
			bad = w.Validate()
		}
		if bad == nil {
			bad = checkPlaintext(&plain)
		}
		if bad == nil {
			bad = s.checkPassword(w.Password)
		}
		if bad != nil {
			rep.Failed++
			var ce *envelope.ColumnError
			if errors.As(bad, &ce) {
				addFailure(&rep.Failures, rowError(raw.ID, ce))
			} else {
				addFailure(&rep.Failures, &accountvault.RowError{ID: raw.ID, Err: bad})
			}
			s.log.Warn("accountvault: encrypt-legacy cannot seal a row", "table", s.table, "row_id", raw.ID, "error_kind", ErrorKind(bad))
			return nil
		}
		sealed, err := envelope.Seal(kv, s.place(raw), plain)
		if err != nil {
			return fmt.Errorf("store: sealing row %q: %w", raw.ID, err)
		}
		for c, v := range sealed {
			if v == nil {
				sealed[c] = orig[c] // already sealed, or empty: unchanged
			}
		}
		setSealed(&w, &sealed)
		w.UpdatedAt = raw.UpdatedAt
		pw.add(*raw, w, tally{sealed: n, betterAuth: ba}) // written at the end of the page
		return nil
	})
	if err == nil && open && opts.After == "" && opts.Until == "" && rep.Failed == 0 && rep.Conflicts == 0 {
		// A legacy writer still running may have inserted rows behind the
		// walk's cursor: a closing scan (reads only) must find no legacy
		// value left before the adoption may finish.
		rep.Remaining, err = a.countLegacy(ctx, opts.BatchSize)
	}
	if err == nil && open && opts.After == "" && opts.Until == "" && rep.Failed == 0 && rep.Conflicts == 0 && rep.Remaining == 0 {
		if err = s.meta.SwapMeta(ctx, metaLegacy, []byte(legacyOpenValue), nil); err == nil || errors.Is(err, accountvault.ErrConflict) {
			// A conflict: another run finished the adoption first.
			err = nil
			rep.Finished = true
		} else {
			err = fmt.Errorf("store: recording that the adoption has finished: %w", err)
		}
	}
	s.log.Info("accountvault: encrypt-legacy finished", "table", s.table, "seen", rep.Seen, "rows_sealed", rep.Rewritten,
		"values_sealed", rep.Sealed, "better_auth_opened", rep.BetterAuth, "skipped", rep.Skipped, "conflicts", rep.Conflicts, "failed", rep.Failed,
		"adoption_finished", rep.Finished, "stopped", err != nil)
	return rep, err
}

// countLegacy scans the whole table, reading only, and counts its legacy
// plaintext values.
func (a *Admin) countLegacy(ctx context.Context, batch int) (int, error) {
	n := 0
	var p Progress
	err := a.walk(ctx, WalkOptions{BatchSize: batch}, &p, nil, func(raw *accountvault.SealedRow) error {
		f := sealedFields(raw)
		for _, k := range classify(&f, true) {
			if k == valueLegacy {
				n++
			}
		}
		return nil
	})
	return n, err
}
