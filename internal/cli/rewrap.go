package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// walkFlags are the flags of a resumable walk (rewrap, migrate).
type walkFlags struct {
	batch int
	after string
	until string
}

func (w *walkFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVar(&w.batch, "batch", store.DefaultBatchSize, "rows read and written per batch")
	cmd.Flags().StringVar(&w.after, "after", "", "start after this row `id` (the cursor an interrupted run printed)")
	cmd.Flags().StringVar(&w.until, "until", "", "stop after this row `id`: with --after, the range of ids of one of several processes walking the table at once (migrate finishes an adoption only in a run over the whole table)")
}

func (w *walkFlags) check() error {
	if w.batch <= 0 {
		return usageErrorf("--batch must be positive")
	}
	if w.until != "" && w.until < w.after {
		return usageErrorf("--until %q is before --after %q: the range is empty", w.until, w.after)
	}
	return nil
}

func (c *cli) rewrapCmd() *cobra.Command {
	var (
		f dbFlags
		w walkFlags
	)
	cmd := &cobra.Command{
		Use:   "rewrap --db DB [--table T]",
		Short: "Move every row's data key onto the primary key",
		Long: `rewrap walks the table in id order, --batch rows at a time, and moves every
data key wrapped by another key onto the keyring's primary key. Token
ciphertexts are untouched and no token is decrypted. Each row is written by
compare-and-swap, so a concurrent write by the application wins; rewrap is
online, resumable, and safe to run from several places at once.

Before writing anything, rewrap checks that the keyring opens the table's data
and holds, enabled, every key that stored values name: otherwise it exits 2
and changes nothing.

Ctrl-C (SIGINT or SIGTERM) stops it between batches: it prints the last row id
done and exits 130; run the same command again to finish. Interrupted before
its walk (while it checks the keyring), it says "interrupted before any row
was changed" and exits 130. Then run 'check': rewrap prints the command line.

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) (err error) {
			if err := w.check(); err != nil {
				return err
			}
			k, _, err := c.loadKeyring()
			if err != nil {
				return err
			}
			// Until the walk starts, rewrap only reads: an interruption
			// before it changed no row, and says so.
			beforeWalk := func(err error) error {
				if err != nil && (errors.Is(err, errInterrupted) || c.interrupted()) {
					fmt.Fprintln(c.stderr, "rewrap: interrupted before any row was changed; run the same command again")
					return errInterrupted
				}
				return err
			}
			ctx := c.sig
			d, err := c.openDB(ctx, f, false)
			if err != nil {
				return beforeWalk(err)
			}
			defer closeDB(d, &err)
			if err := probeTable(ctx, d); err != nil {
				return beforeWalk(err)
			}
			a, err := c.newAdmin(d, k)
			if err != nil {
				return err
			}
			usage, rows, err := c.checkKeyring(ctx, a, d, w.batch, func(string) {})
			if err != nil {
				return beforeWalk(err)
			}
			if c.interrupted() {
				return beforeWalk(errInterrupted)
			}
			primary := k.Primary()
			if rows == 0 {
				fmt.Fprintf(c.stdout, "rewrap: nothing to do: table %q is empty\n", d.table)
				return nil
			}
			if onlyKey(usage, primary) {
				fmt.Fprintf(c.stdout, "rewrap: nothing to do: every sealed value in table %q names the primary key %d (%s)\n", d.table, primary, plural(rows, "row"))
				return nil
			}
			return c.rewrap(a, d, f, k, w, rows)
		}),
	}
	f.add(cmd, true)
	w.add(cmd)
	return cmd
}

func (c *cli) rewrap(a *store.Admin, d *database, f dbFlags, k *keyring.Keyring, w walkFlags, rows int) error {
	res, err := c.runWalk("rewrap", "rewrapped", rows, w,
		func(ctx context.Context, o store.WalkOptions) (store.Progress, []*accountvault.RowError, error) {
			rep, err := a.Rewrap(ctx, o)
			return rep.Progress, rep.Failures, err
		},
		func(p store.Progress) string {
			return fmt.Sprintf("%s seen, %d rewrapped onto key %d, %d already on it or without tokens, %d changed concurrently (left to their writers), %d failed",
				plural(p.Seen, "row"), p.Rewritten, k.Primary(), p.Skipped, p.Conflicts, p.Failed)
		})
	p := res.p
	if errors.Is(err, errInterrupted) {
		return err
	}
	if err != nil {
		c.printResume("rewrap", p.Cursor)
		return fmt.Errorf("rewrap stopped (%s): %w", res.summary, err)
	}
	fmt.Fprintf(c.stdout, "rewrap: done in %s: table %q: %s\n", res.took.Round(time.Millisecond), d.table, res.summary)
	if p.Failed > 0 {
		return failedErr(fmt.Errorf("rewrap: %s could not be rewrapped (listed above)", plural(p.Failed, "row")))
	}
	if p.Conflicts > 0 {
		fmt.Fprintf(c.stdout, "note: %s written concurrently were sealed by their writers; 'check' shows whether any still names an old key (then run rewrap again)\n", plural(p.Conflicts, "row"))
	}
	fmt.Fprintln(c.stdout, c.command("check").db(f).hint("next"))
	return nil
}

// walkResult is the outcome of runWalk.
type walkResult struct {
	p       store.Progress
	summary string
	took    time.Duration
}

// runWalk runs one walk over the table (rewrap or migrate's sealing pass)
// with a progress display, Ctrl-C honoured between batches, and the failing
// rows listed by id. On an interruption it prints the summary and where to
// resume, and returns errInterrupted; any other error of the walk is
// returned for the caller to explain.
func (c *cli) runWalk(name, verb string, rows int, w walkFlags,
	run func(context.Context, store.WalkOptions) (store.Progress, []*accountvault.RowError, error),
	summarize func(store.Progress) string) (walkResult, error) {
	ctx, stopAtBatch, cancel := c.batchContext()
	defer cancel()
	prog := c.newProgress(name, rows, func(p store.Progress) string {
		return fmt.Sprintf("%s: %d rows seen, %d %s, %d failed, %.0f rows/s", name, p.Seen, p.Rewritten, verb, p.Failed, p.RowsPerSecond())
	})
	prog.afterBatch = stopAtBatch
	start := time.Now()
	p, failures, err := run(ctx, store.WalkOptions{BatchSize: w.batch, After: w.after, Until: w.until, Progress: prog.update})
	prog.finish()
	res := walkResult{p: p, summary: summarize(p), took: time.Since(start)}
	printFailures(c, name, failures, p.Failed)
	if err != nil && (c.interrupted() || ctx.Err() != nil) {
		fmt.Fprintf(c.stderr, "%s: interrupted: %s\n", name, res.summary)
		c.printResume(name, p.Cursor)
		return res, errInterrupted
	}
	return res, err
}

// printResume tells where an interrupted walk stopped.
func (c *cli) printResume(cmd, cursor string) {
	if cursor == "" {
		fmt.Fprintf(c.stderr, "%s: stopped before the first row; run the same command again\n", cmd)
		return
	}
	fmt.Fprintf(c.stderr, "%s: stopped after row %q; run the same command again to finish (add --after %q to skip the rows done)\n", cmd, cursor, cursor)
}

// printFailures lists failing rows by id and column, never by value.
func printFailures(c *cli, cmd string, failures []*accountvault.RowError, total int) {
	if total == 0 {
		return
	}
	fmt.Fprintf(c.stderr, "%s: %s failed:\n", cmd, plural(total, "row"))
	for _, f := range failures {
		col := f.Column
		if col == "" {
			col = "-"
		}
		fmt.Fprintf(c.stderr, "  row %q %s: %s: %s\n", f.ID, col, store.ErrorKind(f.Err), errString(f.Err))
	}
	if len(failures) < total {
		fmt.Fprintf(c.stderr, "  (%d more not listed)\n", total-len(failures))
	}
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
