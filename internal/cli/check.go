package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

func (c *cli) checkCmd() *cobra.Command {
	var (
		f      dbFlags
		batch  int
		asJSON bool
		ba     betterAuthFlags
	)
	cmd := &cobra.Command{
		Use:   "check --db DB [--table T]",
		Short: "Open every sealed value and count values per key",
		Long: `check reads every row of the table and opens every sealed token with the
keyring. It prints, per column, how many values are empty, legacy plaintext,
sealed, or failing to open, and per key id how many values name it: a key
that shows 0 values protects nothing and can be disabled. Failing values are
listed by row id and column, never by value. check writes nothing.

A keyring that cannot open the table does not stop the report: its values
are counted as failing. check exits 1 if any value fails to open, 0
otherwise (legacy plaintext values are reported, not failures: see
'migrate').

` + betterAuthHelp + `
check counts the values better-auth encrypted apart: those that open are
legacy (migrate seals the tokens they hold); those that do not, or that
it cannot tell from plaintext without a secret, are failures (exit 1).

After the report, check prints the next steps as command lines: for each
decrypt-only key that no value names, the 'keys disable' that retires it
(never for a staged key: it is waiting to be promoted); and, last, when
legacy plaintext values remain, a warning with the 'migrate' to run (on
stderr with --json).

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) (err error) {
			baOpts, err := ba.options(cmd, "check", c.stderr)
			if err != nil {
				return err
			}
			k, _, err := c.loadKeyring()
			if err != nil {
				return err
			}
			ctx := c.sig
			d, err := c.openDB(ctx, f, false)
			if err != nil {
				return err
			}
			defer closeDB(d, &err)
			if err := probeTable(ctx, d); err != nil {
				return err
			}
			if err := c.requireAdopted(ctx, d, f); err != nil {
				return err
			}
			a, err := c.newAdmin(d, k, baOpts...)
			if err != nil {
				return err
			}
			// An older copy of the keyring (a rollback) is refused before
			// the walk (exit 2); another deployment's keyring is reported
			// on, every value failing (exit 1).
			if err := a.CheckKeyring(ctx); err != nil && !errors.Is(err, store.ErrWrongKeyring) {
				return c.keyringError(ctx, d, err, func(string) {})
			}
			prog := c.newProgress("check", -1, func(p store.Progress) string {
				return fmt.Sprintf("check: %d rows seen, %.0f rows/s", p.Seen, p.RowsPerSecond())
			})
			rep, err := a.Check(ctx, store.WalkOptions{BatchSize: batch, Progress: prog.update})
			prog.finish()
			if err != nil {
				if c.interrupted() {
					fmt.Fprintf(c.stderr, "check: interrupted after %s: no report\n", plural(rep.Rows, "row"))
					return errInterrupted
				}
				return fmt.Errorf("check stopped after %s: %w", plural(rep.Rows, "row"), err)
			}
			cr := newCheckResult(d.table, k, rep)
			if asJSON {
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(cr); err != nil {
					return err
				}
			} else {
				if err := cr.print(c.stdout); err != nil {
					return err
				}
				for _, kr := range cr.Keys {
					if kr.Status == keyring.DecryptOnly.String() && kr.Values == 0 {
						next := c.command("keys", "disable", strconv.FormatUint(uint64(kr.ID), 10)).db(f)
						fmt.Fprintln(c.stdout, next.hint("next"))
					}
				}
			}
			if n := cr.Totals.Legacy; n > 0 {
				// Not a failure (exit 0), but not to be missed: the
				// last line of the report, or a warning on stderr
				// beside the JSON.
				migrate := c.command("migrate").db(f)
				verb := "remain"
				if n == 1 {
					verb = "remains"
				}
				line := fmt.Sprintf("warning: %s %s%s: run %s", plural(n, "legacy plaintext value"), verb, migrate.note(), migrate)
				if asJSON {
					fmt.Fprintln(c.stderr, "accountvault: "+line)
				} else {
					fmt.Fprintln(c.stdout, line)
				}
			}
			if cr.Unreadable > 0 {
				return failedErr(fmt.Errorf("check: %s could not be read: a time that is not epoch seconds; %s converts what it can",
					plural(cr.Unreadable, "row"), c.command("migrate").db(f)))
			}
			if cr.Totals.Failed > 0 {
				msg := fmt.Sprintf("check: %s failed to open", plural(cr.Totals.Failed, "value"))
				if cr.Totals.BetterAuthFailed > 0 {
					fmt.Fprintln(c.stderr, ba.hint())
				}
				if mk := keyringMissing(k, rep.KeyUsage()); mk != nil {
					msg += " (" + missingKeys(mk).Error() + ")"
				}
				return failedErr(errors.New(msg))
			}
			return nil
		}),
	}
	f.add(cmd, true)
	cmd.Flags().IntVar(&batch, "batch", store.DefaultBatchSize, "rows read per batch")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	ba.add(cmd)
	return cmd
}

// checkResult is the report check prints (as text, or as JSON).
type checkResult struct {
	Table string `json:"table"`
	Rows  int    `json:"rows"`
	// Unreadable counts the rows that could not be read (a time that is
	// not epoch seconds), listed in Failures.
	Unreadable int            `json:"unreadable_rows"`
	Columns    []columnResult `json:"columns"`
	Keys       []keyResult    `json:"keys"`
	Totals     struct {
		Sealed int `json:"sealed"`
		Legacy int `json:"legacy"`
		Failed int `json:"failed"`
		// BetterAuth and BetterAuthFailed are the better-auth values among
		// Legacy and Failed (see columnResult).
		BetterAuth       int `json:"better_auth"`
		BetterAuthFailed int `json:"better_auth_failed"`
	} `json:"totals"`
	Failures []failureResult `json:"failures"`
	// FailuresTruncated is set when more values failed than are listed.
	FailuresTruncated bool `json:"failures_truncated"`
}

type columnResult struct {
	Column string `json:"column"`
	Empty  int    `json:"empty"`
	Legacy int    `json:"legacy"`
	// Unexpected counts unsealed values where only sealed values can be
	// (planted or corrupt); they count as failed too.
	Unexpected int `json:"unexpected"`
	// BetterAuth counts legacy values that are better-auth ciphertext
	// and open with its secrets (counted in Legacy too);
	// BetterAuthFailed those that have its shape and were not opened
	// (counted as failed).
	BetterAuth       int            `json:"better_auth"`
	BetterAuthFailed int            `json:"better_auth_failed"`
	Sealed           map[string]int `json:"sealed"` // by key id
	Failed           map[string]int `json:"failed"` // by key id (0: unparseable)
	sums             [2]int         // sealed, failed
}

type keyResult struct {
	ID uint32 `json:"id"`
	// Status is the key's status in the keyring, or "not in keyring".
	Status string `json:"status"`
	// Values is the number of values that name the key, opened or not.
	Values int `json:"values"`
	Failed int `json:"failed"`
}

type failureResult struct {
	ID     string `json:"id"`
	Column string `json:"column,omitempty"`
	Kind   string `json:"kind"`
	Error  string `json:"error"`
}

func newCheckResult(table string, k *keyring.Keyring, rep store.CheckReport) *checkResult {
	r := &checkResult{Table: table, Rows: rep.Rows, Unreadable: rep.Unreadable, Failures: []failureResult{}}
	r.Totals.Sealed, r.Totals.Legacy, r.Totals.Failed = rep.Totals()
	failedByKey := map[uint32]int{}
	for _, col := range rep.Columns {
		cr := columnResult{Column: col.Column, Empty: col.Empty, Legacy: col.Legacy + col.BetterAuth, Unexpected: col.Unexpected,
			BetterAuth: col.BetterAuth, BetterAuthFailed: col.BetterAuthFailed,
			Sealed: map[string]int{}, Failed: map[string]int{}}
		r.Totals.BetterAuth += col.BetterAuth
		r.Totals.BetterAuthFailed += col.BetterAuthFailed
		cr.sums[1] += col.Unexpected + col.BetterAuthFailed
		for id, n := range col.Sealed {
			cr.Sealed[strconv.FormatUint(uint64(id), 10)] = n
			cr.sums[0] += n
		}
		for id, n := range col.Failed {
			cr.Failed[strconv.FormatUint(uint64(id), 10)] = n
			cr.sums[1] += n
			failedByKey[id] += n
		}
		r.Columns = append(r.Columns, cr)
	}
	usage := rep.KeyUsage()
	inKeyring := map[uint32]bool{}
	for _, ki := range k.Keys() {
		inKeyring[ki.ID] = true
		r.Keys = append(r.Keys, keyResult{ID: ki.ID, Status: ki.Status.String(), Values: usage[ki.ID], Failed: failedByKey[ki.ID]})
	}
	for _, id := range sortedIDs(usage) {
		if !inKeyring[id] {
			status := "not in keyring"
			if id == 0 {
				status = "malformed values"
			}
			r.Keys = append(r.Keys, keyResult{ID: id, Status: status, Values: usage[id], Failed: failedByKey[id]})
		}
	}
	for _, f := range rep.Failures {
		r.Failures = append(r.Failures, failureResult{ID: f.ID, Column: f.Column, Kind: store.ErrorKind(f.Err), Error: errString(f.Err)})
	}
	r.FailuresTruncated = len(rep.Failures) < r.Totals.Failed+r.Unreadable
	return r
}

func (r *checkResult) print(w io.Writer) error {
	fmt.Fprintf(w, "table %q: %s\n", r.Table, plural(r.Rows, "row"))
	if r.Unreadable > 0 {
		fmt.Fprintf(w, "  and %s that could not be read (listed under failures)\n", plural(r.Unreadable, "row"))
	}
	fmt.Fprintf(w, "  %-14s %8s %8s %8s %8s\n", "column", "empty", "legacy", "sealed", "failed")
	for _, col := range r.Columns {
		fmt.Fprintf(w, "  %-14s %8d %8d %8d %8d\n", col.Column, col.Empty, col.Legacy, col.sums[0], col.sums[1])
	}
	fmt.Fprintln(w, "values per key:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, kr := range r.Keys {
		failed := ""
		if kr.Failed > 0 {
			failed = fmt.Sprintf(" (%d failed)", kr.Failed)
		}
		fmt.Fprintf(tw, "  key %d\t%s\t%s%s\n", kr.ID, kr.Status, plural(kr.Values, "value"), failed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "totals: %d sealed, %d legacy, %d failed\n", r.Totals.Sealed, r.Totals.Legacy, r.Totals.Failed)
	if r.Totals.BetterAuth+r.Totals.BetterAuthFailed > 0 {
		fmt.Fprintf(w, "better-auth: %d legacy values are its ciphertext and open (migrate seals the tokens they hold), %d have its shape and were not opened (failed)\n",
			r.Totals.BetterAuth, r.Totals.BetterAuthFailed)
	}
	if len(r.Failures) == 0 {
		return nil
	}
	if r.FailuresTruncated {
		fmt.Fprintf(w, "failures (first %d of %d):\n", len(r.Failures), r.Totals.Failed+r.Unreadable)
	} else {
		fmt.Fprintln(w, "failures:")
	}
	for _, f := range r.Failures {
		col := f.Column
		if col == "" {
			col = "-"
		}
		fmt.Fprintf(w, "  row %q %s: %s: %s\n", f.ID, col, f.Kind, f.Error)
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
