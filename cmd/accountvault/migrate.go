package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/accountvault/accountvault/store"
)

func (c *cli) migrateCmd() *cobra.Command {
	var (
		f dbFlags
		w walkFlags
	)
	cmd := &cobra.Command{
		Use:   "migrate --db DB [--table T]",
		Short: "Create or upgrade the table's schema, then seal its plaintext tokens",
		Long: `migrate brings the table to the current schema (creating it if needed; in an
adopted better-auth or pylon table, TEXT token columns become BLOB/BYTEA
without altering a value), then seals every legacy plaintext token in place,
under the keyring's primary key. Each row is written by compare-and-swap; the
walk is online, resumable and safe to run from several places at once.

Back up the database first. While migrate runs, the application must open
its store with store.WithLegacyPlaintext(); remove it once 'check' reports 0
legacy values.

Before changing anything, migrate checks that the keyring opens the table's
sealed data, if any (exit 2 otherwise). Ctrl-C stops it between batches
(exit 130); run it again to finish.

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
			ctx := c.sig
			d, err := c.openDB(ctx, f, true)
			if err != nil {
				return err
			}
			defer closeDB(d, &err)
			s, err := c.newStore(d, k)
			if err != nil {
				return err
			}
			// Refuse a wrong keyring before touching the schema. A table
			// that does not exist yet, or cannot be read before its
			// migration, is checked after it.
			if _, lerr := d.backend.List(ctx, "", 1); lerr == nil {
				if err := s.Verify(ctx); errors.Is(err, store.ErrWrongKeyring) {
					return configErr(fmt.Errorf("keyring %s cannot open the data of table %q in %s (another deployment's keyring, or the wrong --table?): %w", c.keyringPath, d.table, d.name, err))
				}
			}
			if c.interrupted() {
				return errInterrupted
			}
			if err := d.migrate(ctx); err != nil {
				if c.interrupted() {
					return errInterrupted
				}
				return fmt.Errorf("migrating the schema of table %q: %w", d.table, err)
			}
			fmt.Fprintf(c.stderr, "migrate: schema of table %q is up to date\n", d.table)
			_, rows, err := c.verifyKeyring(ctx, s, d, k, w.batch)
			if err != nil {
				return err
			}

			bctx, stopAtBatch, cancel := c.batchContext()
			defer cancel()
			prog := c.newProgress("migrate", rows, func(p store.Progress) string {
				return fmt.Sprintf("migrate: %d rows seen, %d sealed, %d failed, %.0f rows/s", p.Seen, p.Rewritten, p.Failed, p.RowsPerSecond())
			})
			prog.afterBatch = stopAtBatch
			start := time.Now()
			rep, err := s.EncryptLegacy(bctx, store.WalkOptions{BatchSize: w.batch, After: w.after, Progress: prog.update})
			prog.finish()
			p := rep.Progress
			summary := fmt.Sprintf("%s seen, %s sealed (%s) under key %d, %d without plaintext, %d changed concurrently (left to their writers), %d failed",
				plural(p.Seen, "row"), plural(p.Rewritten, "row"), plural(rep.Sealed, "value"), k.Primary(), p.Skipped, p.Conflicts, p.Failed)
			printFailures(c, "migrate", rep.Failures, p.Failed)
			if err != nil {
				if c.interrupted() || bctx.Err() != nil {
					fmt.Fprintf(c.stderr, "migrate: interrupted: %s\n", summary)
					c.printResume("migrate", p.Cursor)
					return errInterrupted
				}
				c.printResume("migrate", p.Cursor)
				return fmt.Errorf("migrate stopped (%s): %w", summary, err)
			}
			fmt.Fprintf(c.stdout, "migrate: done in %s: table %q: %s\n", time.Since(start).Round(time.Millisecond), d.table, summary)
			if p.Failed > 0 {
				return failedErr(fmt.Errorf("migrate: %s could not be sealed (listed above)", plural(p.Failed, "row")))
			}
			fmt.Fprintf(c.stdout, "%s\n  it must report 0 legacy values; then remove store.WithLegacyPlaintext() from the application\n", c.command("check").db(f).hint("next"))
			return nil
		}),
	}
	f.add(cmd, true)
	w.add(cmd)
	return cmd
}
