package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/store"
)

func (c *cli) migrateCmd() *cobra.Command {
	var (
		f  dbFlags
		w  walkFlags
		ba betterAuthFlags
	)
	cmd := &cobra.Command{
		Use:   "migrate --db DB [--table T] [--better-auth-plaintext]",
		Short: "Adopt an existing table: convert its schema, then seal its plaintext tokens",
		Long: `migrate adopts an existing accounts table (better-auth's is "account", pylon's
"_pylon_accounts": name it with --table). It never creates a table: if --db
holds no table of that name, it exits 2 and creates nothing. (A new
deployment's application creates its table with the backend's Migrate.)

First it brings the table to accountvault's schema, in one transaction:
better-auth's camelCase columns (userId, accessToken, createdAt, ...) are
renamed to snake_case (user_id, access_token, created_at, ...), TEXT token
columns become BLOB/BYTEA without altering a value, timestamps and ISO-8601
dates become epoch seconds, and UNIQUE(provider_id, account_id) is added.
Other columns (better-auth's issuer, say) are kept; one that is NOT NULL
without a default loses its NOT NULL. A table it cannot convert safely
(duplicate (provider_id, account_id) pairs, a time that looks like
milliseconds, ...) is refused with the column named: exit 2, nothing
changed. SECURITY.md ("Adopting an existing plaintext database") has the
SQL that undoes the renames.

On SQLite, it then converts the times written into an adopted table since
(ISO-8601 text, epoch milliseconds of 2000-2099) to epoch seconds, and lists
those it cannot convert without guessing (exit 1 at the end).

Then it seals every legacy plaintext token in place, under the keyring's
primary key. Each row is written by compare-and-swap; the walk is online,
resumable and safe to run from several places at once.

` + betterAuthHelp + `

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
			baOpts, err := ba.options(cmd, "migrate", c.stderr)
			if err != nil {
				return err
			}
			k, _, err := c.loadKeyring()
			if err != nil {
				return err
			}
			ctx := c.sig
			// A SQLite file that does not exist holds no table to adopt:
			// openDB refuses it rather than create it.
			d, err := c.openDB(ctx, f, false)
			if err != nil {
				return err
			}
			defer closeDB(d, &err)
			before, err := d.backend.Inspect(ctx)
			if err != nil {
				if c.interrupted() {
					return errInterrupted
				}
				return configErr(fmt.Errorf("reading the catalog of %s: %w", d.name, err))
			}
			if !before.Exists {
				return configErr(fmt.Errorf("no table %q in %s: migrate adopts an existing table; check --table (better-auth's table is account)", d.table, d.name))
			}
			a, err := c.newAdmin(d, k, baOpts...)
			if err != nil {
				return err
			}
			// Refuse a wrong keyring before touching the schema. A table
			// that cannot be read before its migration (camelCase
			// columns, say) is checked after it.
			if _, lerr := d.backend.List(ctx, "", 1); lerr == nil {
				err := a.CheckKeyring(ctx)
				if errors.Is(err, store.ErrWrongKeyring) {
					return configErr(fmt.Errorf("%s cannot open the data of table %q in %s (another deployment's keyring, or the wrong --table?): %w", c.keyringName(), d.table, d.name, err))
				}
				// Any other error is not the keyring's verdict: rows of a
				// table not yet migrated may not be readable (text dates,
				// say), and an interruption is handled just below. The
				// keyring is verified again, for real, after the schema
				// step (verifyKeyring), before any token is sealed.
				if err != nil {
					fmt.Fprintf(c.stderr, "migrate: the keyring will be checked after the schema step: %s\n", errString(err))
				}
			}
			if c.interrupted() {
				return errInterrupted
			}
			if err := d.backend.Adopt(ctx); err != nil {
				return c.migrateError(d, before, err)
			}
			after, ierr := d.backend.Inspect(ctx)
			if ierr != nil {
				// The schema is converted; only the account of what
				// changed is lost.
				fmt.Fprintf(c.stderr, "migrate: schema of table %q: ready (could not read the catalog to tell what changed: %v)\n", d.table, ierr)
			} else {
				fmt.Fprintf(c.stderr, "migrate: schema of table %q: %s\n", d.table, schemaReport(before, after))
			}
			refusedTimes, err := c.convertTimes(ctx, d)
			if err != nil {
				return err
			}
			_, rows, err := c.verifyKeyring(ctx, a, d, w.batch)
			if err != nil {
				return err
			}

			var (
				sealed, remaining   int
				baOpened, baRefused int
				finished            bool
			)
			res, err := c.runWalk("migrate", "sealed", rows, w,
				func(ctx context.Context, o store.WalkOptions) (store.Progress, []*accountvault.RowError, error) {
					rep, err := a.EncryptLegacy(ctx, o)
					sealed, finished, remaining = rep.Sealed, rep.Finished, rep.Remaining
					baOpened, baRefused = rep.BetterAuth, betterAuthFailures(rep.Failures)
					return rep.Progress, rep.Failures, err
				},
				func(p store.Progress) string {
					return fmt.Sprintf("%s seen, %s sealed (%s%s) under key %d, %d without plaintext, %d changed concurrently (left to their writers), %d failed",
						plural(p.Seen, "row"), plural(p.Rewritten, "row"), plural(sealed, "value"), betterAuthOpened(baOpened), k.Primary(), p.Skipped, p.Conflicts, p.Failed)
				})
			p, summary := res.p, res.summary
			if errors.Is(err, errInterrupted) {
				return err
			}
			if err != nil {
				return c.walkError(d, w, p, summary, err)
			}
			fmt.Fprintf(c.stdout, "migrate: done in %s: table %q: %s\n", res.took.Round(time.Millisecond), d.table, summary)
			if p.Failed > 0 && baRefused > 0 {
				fmt.Fprintln(c.stderr, ba.hint())
				return failedErr(fmt.Errorf("migrate: %s could not be sealed (listed above), %d of them holding values that may be better-auth ciphertext (see the hint)",
					plural(p.Failed, "row"), baRefused))
			}
			if refusedTimes > 0 {
				return failedErr(fmt.Errorf("migrate: %s that is not epoch seconds was not converted (listed above): its row cannot be read; fix it by hand, then run migrate again",
					plural(refusedTimes, "time")))
			}
			if p.Failed > 0 {
				return failedErr(fmt.Errorf("migrate: %s could not be sealed (listed above): an unsealed value where only sealed values can be "+
					"is planted or corrupt and is never sealed; find out how it got there, then clear it (the user links the account again)", plural(p.Failed, "row")))
			}
			if remaining > 0 {
				fmt.Fprintf(c.stdout, "migrate: %s appeared behind the walk (the application the table was adopted from still writing?): stop it, then run migrate again to finish the adoption\n", plural(remaining, "legacy value"))
			}
			if finished {
				fmt.Fprintf(c.stdout, "migrate: adoption of table %q finished: it holds no legacy plaintext, and from now on every unsealed value is refused\n", d.table)
			}
			fmt.Fprintf(c.stdout, "%s\n  it must report 0 legacy values; then remove store.WithLegacyPlaintext() from the application\n", c.command("check").db(f).hint("next"))
			return nil
		}),
	}
	f.add(cmd, true)
	w.add(cmd)
	ba.add(cmd)
	return cmd
}

// timeConverter is a backend whose columns may hold times that are not
// epoch seconds (SQLite), and that can convert them.
type timeConverter interface {
	ConvertTimes(ctx context.Context) (int64, []*accountvault.RowError, error)
}

// convertTimes converts, on d's adopted table, the times that are not
// epoch seconds (written since the adoption by the application it came
// from), and lists those it refuses. It returns how many it refused.
func (c *cli) convertTimes(ctx context.Context, d *database) (int, error) {
	tc, ok := d.backend.(timeConverter)
	if !ok {
		return 0, nil // Postgres: a bigint column holds nothing else
	}
	n, refused, err := tc.ConvertTimes(ctx)
	if err != nil {
		if c.interrupted() {
			return 0, errInterrupted
		}
		return 0, failedErr(fmt.Errorf("converting the times of table %q: %w", d.table, err))
	}
	if n > 0 {
		fmt.Fprintf(c.stderr, "migrate: times of table %q: converted %s to epoch seconds (ISO-8601 text, epoch milliseconds)\n", d.table, plural(int(n), "value"))
	}
	if len(refused) > 0 {
		fmt.Fprintf(c.stderr, "migrate: times of table %q: %s not converted (their rows cannot be read until fixed):\n", d.table, plural(len(refused), "value"))
		for _, re := range refused {
			fmt.Fprintf(c.stderr, "  row %q %s: %s\n", re.ID, re.Column, re.Err)
		}
	}
	return len(refused), nil
}

// migrateError returns the error of a failed Migrate of d's table, whose
// catalog read before was before. Migrate runs in one transaction: a
// refused table, or one the database does not let this role convert, is
// left unchanged (exit 2).
func (c *cli) migrateError(d *database, before accountvault.TableInfo, err error) error {
	if c.interrupted() {
		fmt.Fprintf(c.stderr, "migrate: interrupted while converting the schema of table %q: nothing was changed\n", d.table)
		return errInterrupted
	}
	if errors.Is(err, accountvault.ErrIncompatibleTable) {
		var te error = err
		if e := (*accountvault.TableError)(nil); errors.As(err, &e) {
			te = e
		}
		return configErr(fmt.Errorf("%w; nothing was changed", te))
	}
	if classifyDBError(err) == dbErrConfig {
		return configErr(fmt.Errorf("converting the schema of table %q: %w; nothing was changed", d.table, err))
	}
	return failedErr(fmt.Errorf("migrating the schema of table %q: %w", d.table, err))
}

// walkError returns the error of an EncryptLegacy walk that stopped at err,
// with progress p (summarised in summary), not interrupted. Only a
// transient database error earns "run the same command again": any other
// would stop the next run at the same row.
func (c *cli) walkError(d *database, w walkFlags, p store.Progress, summary string, err error) error {
	class := classifyDBError(err)
	if class == dbErrTransient {
		c.printResume("migrate", p.Cursor)
		return failedErr(fmt.Errorf("migrate stopped by a database error (%s): %w", summary, err))
	}
	if p.Cursor != w.after {
		fmt.Fprintf(c.stderr, "migrate: stopped after row %q; fix the cause, then run the same command again to finish (add --after %q to skip the rows done)\n", p.Cursor, p.Cursor)
	}
	if class == dbErrConfig && p.Rewritten == 0 {
		return configErr(fmt.Errorf("migrate cannot write to table %q of %s (%s): %w; no token was sealed", d.table, d.name, summary, err))
	}
	return failedErr(fmt.Errorf("migrate stopped (%s): %w", summary, err))
}

// schemaReport says what Migrate did, from the catalog before and after.
func schemaReport(before, after accountvault.TableInfo) string {
	ready := fmt.Sprintf("ready (schema version %d)", after.Version)
	switch {
	case before.Version != 0 && before.Version == after.Version:
		return ready + ": already in accountvault's schema, nothing changed"
	case before.Version != 0:
		return fmt.Sprintf("%s: upgraded from schema version %d", ready, before.Version)
	}
	ready += ": adopted"
	if renamed := renamedColumns(before, after); len(renamed) > 0 {
		ready += "; renamed better-auth's columns " + strings.Join(renamed, ", ") +
			" to snake_case (SECURITY.md has the SQL that renames them back)"
	}
	changes := typeChanges(before, after)
	if len(changes) == 0 {
		return ready + "; no column type changed"
	}
	return ready + "; converted " + strings.Join(changes, "; ")
}

// renamedColumns returns better-auth's camelCase names (userId) that the
// table had before, for a column of accountvault's schema (user_id) that
// it has after instead.
func renamedColumns(before, after accountvault.TableInfo) []string {
	var out []string
	for _, camel := range camelCaseColumns(before) {
		if _, ok := after.Column(camel); !ok {
			out = append(out, camel)
		}
	}
	return out
}

// typeChanges lists the columns of accountvault's schema whose declared
// type differs between before and after, grouped by change:
// "access_token, refresh_token, id_token from TEXT to BLOB".
func typeChanges(before, after accountvault.TableInfo) []string {
	var order []string
	cols := map[string][]string{}
	for _, name := range accountvault.Columns() {
		from, ok1 := before.Column(name)
		if !ok1 {
			from, ok1 = before.Column(camelCase(name)) // renamed by Adopt
		}
		to, ok2 := after.Column(name)
		if !ok1 || !ok2 || strings.EqualFold(strings.TrimSpace(from), strings.TrimSpace(to)) {
			continue
		}
		key := fmt.Sprintf("from %s to %s", typeName(from), typeName(to))
		if cols[key] == nil {
			order = append(order, key)
		}
		cols[key] = append(cols[key], name)
	}
	out := make([]string, len(order))
	for i, key := range order {
		out[i] = strings.Join(cols[key], ", ") + " " + key
	}
	return out
}

func typeName(t string) string {
	if t = strings.TrimSpace(t); t == "" {
		return "no declared type"
	}
	return t
}

// camelCaseColumns returns better-auth's default camelCase names (userId)
// that the table has for a column of accountvault's schema it lacks
// (user_id).
func camelCaseColumns(st accountvault.TableInfo) []string {
	var out []string
	for _, name := range accountvault.Columns() {
		camel := camelCase(name)
		if camel == name {
			continue
		}
		if _, ok := st.Column(name); ok {
			continue
		}
		if _, ok := st.Column(camel); ok {
			out = append(out, camel)
		}
	}
	return out
}

// camelCase returns better-auth's default name of a snake_case column:
// "user_id" becomes "userId".
func camelCase(name string) string {
	parts := strings.Split(name, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
