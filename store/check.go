package store

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
)

// ColumnReport counts the values of one token column.
type ColumnReport struct {
	Column string // "access_token", "refresh_token" or "id_token"
	Empty  int    // NULL or empty
	Legacy int    // legacy plaintext: unsealed, in a table being adopted (see EncryptLegacy)
	// BetterAuth counts legacy values that are better-auth ciphertext and
	// open with the secrets of WithBetterAuthSecrets: EncryptLegacy seals
	// the tokens they hold. They are not in Legacy.
	BetterAuth int
	// BetterAuthFailed counts legacy values that have the shape of
	// better-auth ciphertext and were not opened (ErrBetterAuthCiphertext:
	// no better-auth option given, a wrong or missing secret, ...):
	// EncryptLegacy refuses their rows. Each is also listed in
	// CheckReport.Failures.
	BetterAuthFailed int
	// Unexpected counts unsealed values where no legacy plaintext can be
	// (accountvault.ErrUnexpectedPlaintext): planted or corrupt. Each is
	// also listed in CheckReport.Failures.
	Unexpected int
	Sealed     map[uint32]int // sealed values that opened, by key-encryption key id
	Failed     map[uint32]int // sealed values that failed to open, by the key id they name (0 if unparseable)
}

// CheckReport is the outcome of Check: per column and per key id, how
// values are stored, and which rows failed to open.
type CheckReport struct {
	Rows    int
	Columns [envelope.NumColumns]ColumnReport
	// LegacyOpen reports that the table is being adopted: its unsealed
	// values may be legacy plaintext.
	LegacyOpen bool
	// Unreadable counts the rows the backend could not read (a time that
	// is not epoch seconds: accountvault.ErrInvalidTime), each listed in
	// Failures; their tokens are not counted anywhere else.
	Unreadable int
	Failures   []*accountvault.RowError // the first MaxReportedFailures failing values
}

// KeyUsage returns, per key-encryption key id, how many values name it
// (opened or not): a key with a non-zero count still protects data.
func (r *CheckReport) KeyUsage() map[uint32]int {
	u := map[uint32]int{}
	for _, c := range r.Columns {
		for id, n := range c.Sealed {
			u[id] += n
		}
		for id, n := range c.Failed {
			u[id] += n
		}
	}
	return u
}

// KeyIDs returns the key ids in use, sorted.
func (r *CheckReport) KeyIDs() []uint32 {
	var ids []uint32
	for id := range r.KeyUsage() {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// Totals returns the numbers of sealed-and-opening, legacy and failing
// values. Legacy values are those EncryptLegacy will seal: legacy
// plaintext and better-auth ciphertext that opens (BetterAuth); failing
// values include the unexpected unsealed ones and the better-auth values
// that were not opened (BetterAuthFailed).
func (r *CheckReport) Totals() (sealed, legacy, failed int) {
	for _, c := range r.Columns {
		legacy += c.Legacy + c.BetterAuth
		failed += c.Unexpected + c.BetterAuthFailed
		for _, n := range c.Sealed {
			sealed += n
		}
		for _, n := range c.Failed {
			failed += n
		}
	}
	return sealed, legacy, failed
}

// Check reads every row of the table and opens every sealed value with the
// store's keyring, counting per column and per key id the values that are
// sealed, legacy plaintext, empty, failing to open, or unsealed where no
// legacy plaintext can be (the last two listed by row id and column; see
// [Admin.EncryptLegacy] for what is legacy). Legacy values that have the
// shape of better-auth ciphertext are opened with the store's better-auth
// secrets and counted apart (BetterAuth), or, if they do not open or no
// better-auth option was given, counted and listed as failures
// (BetterAuthFailed): a table whose tokens are better-auth ciphertext is
// never reported as plaintext waiting to be sealed. Opening each value is the evidence that a key can be retired:
// when no value names a key, nothing depends on it.
//
// Check refuses keys that are an older copy of the keyring the table's
// stores have used (an error wrapping keyring.ErrRollback); keys that open
// none of the table's data are reported on, every value failing. It uses
// bounded memory (opts.BatchSize rows at a time) and writes nothing. It returns an error only when it could not finish (a database
// error, ctx); failing rows are in the report.
func (a *Admin) Check(ctx context.Context, opts WalkOptions) (CheckReport, error) {
	s := a.s
	var rep CheckReport
	for c := range rep.Columns {
		rep.Columns[c] = ColumnReport{Column: envelope.Column(c).String(), Sealed: map[uint32]int{}, Failed: map[uint32]int{}}
	}
	// The keys are checked as at any store's first use: an older copy of
	// the keyring (a rollback) is refused. A keyring that opens none of
	// the data is not: the report shows every value failing, per key.
	kv, err := s.ready(ctx)
	switch {
	case errors.Is(err, ErrWrongKeyring):
		kv = s.keys.Load()
	case err != nil:
		return rep, err
	}
	open, err := s.legacyOpen(ctx)
	if err != nil {
		return rep, err
	}
	rep.LegacyOpen = open
	var p Progress
	err = a.walk(ctx, opts, &p, &rep.Failures, func(raw *accountvault.SealedRow) error {
		rep.Rows++
		f := sealedFields(raw)
		for c, k := range classify(&f, open) {
			switch k {
			case valueEmpty:
				rep.Columns[c].Empty++
			case valueLegacy:
				switch _, encrypted, err := s.betterAuth.openLegacy(envelope.Column(c), f[c]); {
				case err != nil:
					rep.Columns[c].BetterAuthFailed++
					addFailure(&rep.Failures, rowError(raw.ID, &envelope.ColumnError{Column: envelope.Column(c), Err: err}))
					s.log.Warn("accountvault: legacy value may be better-auth ciphertext and was not opened", "table", s.table, "row_id", raw.ID,
						"column", envelope.Column(c).String(), "better_auth", s.betterAuth.String())
				case encrypted:
					rep.Columns[c].BetterAuth++
				default:
					rep.Columns[c].Legacy++
				}
			case valueUnexpected:
				rep.Columns[c].Unexpected++
				err := unsealedError(envelope.Column(c), k)
				addFailure(&rep.Failures, rowError(raw.ID, err))
				s.log.Warn("accountvault: unsealed value where only sealed values can be", "table", s.table, "row_id", raw.ID, "column", envelope.Column(c).String())
			}
			if k != valueSealed {
				f[c] = nil
			}
		}
		// Open the row's sealed values together (one data-key unwrap);
		// on failure, count the failing column and retry the others.
		for {
			_, err := envelope.Open(kv, s.place(raw), f)
			if err == nil {
				for c, v := range f {
					if v != nil {
						id, err := envelope.KeyID(v)
						if err != nil { // Open parsed it: cannot happen
							return fmt.Errorf("store: row %q: %w", raw.ID, err)
						}
						rep.Columns[c].Sealed[id]++
					}
				}
				return nil
			}
			var ce *envelope.ColumnError
			if !errors.As(err, &ce) {
				return err // not a per-value failure
			}
			c := ce.Column
			id, kerr := envelope.KeyID(f[c])
			if kerr != nil {
				id = 0
			}
			rep.Columns[c].Failed[id]++
			addFailure(&rep.Failures, rowError(raw.ID, err))
			s.log.Warn("accountvault: sealed value failed to open", "table", s.table, "row_id", raw.ID, "column", c.String(), "error_kind", ErrorKind(err))
			f[c] = nil
		}
	})
	rep.Unreadable = p.Failed
	sealed, legacy, failed := rep.Totals()
	s.log.Info("accountvault: check finished", "table", s.table, "rows", rep.Rows, "unreadable_rows", rep.Unreadable, "sealed", sealed, "legacy", legacy, "failed", failed,
		"key_usage", rep.KeyUsage(), "stopped", err != nil)
	return rep, err
}
