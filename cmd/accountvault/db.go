package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// dbFlags are the --db and --table flags of a command.
type dbFlags struct {
	db    string
	table string
}

func (f *dbFlags) add(cmd *cobra.Command, required bool) {
	help := "the database: a SQLite file path, or a postgres:// or postgresql:// URL"
	cmd.Flags().StringVar(&f.db, "db", "", help)
	cmd.Flags().StringVar(&f.table, "table", defaultTable, "the accounts `table`")
	if required {
		if err := cmd.MarkFlagRequired("db"); err != nil {
			panic(err) // the flag was just defined
		}
	}
}

// database is an opened backend.
type database struct {
	backend accountvault.Backend
	migrate func(context.Context) error
	// inspect reads what the catalog says of the table, reading no row.
	inspect func(context.Context) (tableState, error)
	close   func() error
	name    string // the --db argument, with any password redacted
	table   string
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// redactDB returns the --db argument fit for printing: the password of a
// URL's user information, and its password and sslpassword parameters,
// become "xxxxx".
func redactDB(s string) string {
	if !isPostgresURL(s) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		s = userInfoRE.ReplaceAllString(s, "//xxxxx@")
		return passwordParamRE.ReplaceAllString(s, "${1}xxxxx")
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q, changed := u.Query(), false
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

var (
	userInfoRE      = regexp.MustCompile(`//[^@/?#]*@`)
	passwordParamRE = regexp.MustCompile(`(?i)([?&](?:ssl)?password=)[^&#]*`)
)

// openDB opens the database of f. Unless create is set, a SQLite file must
// exist already. Every failure is a configuration error.
func (c *cli) openDB(ctx context.Context, f dbFlags, create bool) (*database, error) {
	if f.db == "" {
		return nil, usageErrorf("--db is required")
	}
	if isPostgresURL(f.db) {
		d, err := openPostgres(ctx, f.db, f.table)
		if err != nil {
			// pgx errors name the host, user and database, never the password.
			return nil, configErr(fmt.Errorf("opening %s: %w", redactDB(f.db), err))
		}
		return d, nil
	}
	if !create && f.db != ":memory:" && !strings.HasPrefix(f.db, "file:") {
		if _, err := os.Stat(f.db); errors.Is(err, fs.ErrNotExist) {
			return nil, configErr(fmt.Errorf("database file %s does not exist", f.db))
		} else if err != nil {
			return nil, configErr(err)
		}
	}
	b, err := sqlite.Open(f.db, sqlite.WithTable(f.table))
	if err != nil {
		return nil, configErr(fmt.Errorf("opening %s: %w", f.db, err))
	}
	return &database{
		backend: b,
		migrate: b.Migrate,
		inspect: sqliteInspector(f.db, f.table),
		close:   b.Close,
		name:    f.db,
		table:   f.table,
	}, nil
}

// closeDB closes d, joining a close error to err.
func closeDB(d *database, err *error) {
	if cerr := d.close(); cerr != nil && *err == nil {
		*err = failedErr(fmt.Errorf("closing the database: %w", cerr))
	}
}

// probeTable reads one row, so that a missing table or an unreachable
// database is reported as a configuration error before any work.
func probeTable(ctx context.Context, d *database) error {
	if _, err := d.backend.List(ctx, "", 1); err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return configErr(fmt.Errorf("cannot read table %q of %s (wrong --table, or run 'accountvault migrate' first?): %w", d.table, d.name, err))
	}
	return nil
}

// newStore wraps d in a store that logs audit events to the CLI's logger.
func (c *cli) newStore(d *database, k *keyring.Keyring, opts ...store.Option) (*store.Store, error) {
	s, err := store.New(d.backend, k, append([]store.Option{store.WithLogger(c.log)}, opts...)...)
	if err != nil {
		return nil, configErr(err)
	}
	return s, nil
}

// verifyKeyring fails, with a configuration error, if k cannot open the
// table's data: Store.Verify finds no sampled sealed row that opens, or a
// key that stored values name is missing from k or disabled in it. It
// reads only. It returns the per-key usage and the number of rows. If ctx
// is done, it says so on stderr and returns errInterrupted.
func (c *cli) verifyKeyring(ctx context.Context, s *store.Store, d *database, k *keyring.Keyring, batch int) (map[uint32]int, int, error) {
	return c.checkKeyring(ctx, s, d, k, batch, func(phase string) {
		fmt.Fprintf(c.stderr, "accountvault: interrupted while %s: nothing was changed\n", phase)
	})
}

// checkKeyring is verifyKeyring, calling interrupted with what it was
// doing, instead of printing, if ctx is done.
func (c *cli) checkKeyring(ctx context.Context, s *store.Store, d *database, k *keyring.Keyring, batch int, interrupted func(phase string)) (map[uint32]int, int, error) {
	if err := s.Verify(ctx); err != nil {
		if ctx.Err() != nil {
			interrupted("checking the keyring")
			return nil, 0, errInterrupted
		}
		if errors.Is(err, store.ErrWrongKeyring) {
			return nil, 0, configErr(fmt.Errorf("keyring %s cannot open the data of table %q in %s (another deployment's keyring, or the wrong --table?): %w", c.keyringPath, d.table, d.name, err))
		}
		return nil, 0, failedErr(err)
	}
	prog := c.newProgress("scan", -1, func(p store.Progress) string {
		return fmt.Sprintf("scan: %d rows seen, %.0f rows/s", p.Seen, p.RowsPerSecond())
	})
	usage, err := s.KeyUsage(ctx, store.WalkOptions{BatchSize: batch, Progress: prog.update})
	prog.finish()
	if err != nil {
		if ctx.Err() != nil {
			interrupted("counting the values per key")
			return nil, 0, errInterrupted
		}
		return nil, 0, failedErr(fmt.Errorf("counting key usage: %w", err))
	}
	if err := missingKeys(k, usage); err != nil {
		return nil, 0, configErr(err)
	}
	return usage, prog.seen, nil
}

// missingKeys returns an error naming every key that stored values name
// but k does not hold enabled. Key id 0 counts malformed values, which no
// key opens; they are the caller's to report.
func missingKeys(k *keyring.Keyring, usage map[uint32]int) error {
	status := map[uint32]keyring.Status{}
	for _, ki := range k.Keys() {
		status[ki.ID] = ki.Status
	}
	var errs []error
	for _, id := range sortedIDs(usage) {
		n := usage[id]
		if id == 0 || n == 0 {
			continue
		}
		switch st, ok := status[id]; {
		case !ok:
			errs = append(errs, fmt.Errorf("keyring lacks key %d used by %s", id, plural(n, "value")))
		case st == keyring.Disabled:
			errs = append(errs, fmt.Errorf("keyring holds key %d disabled, but it is used by %s (enable it with 'accountvault keys enable %d')", id, plural(n, "value"), id))
		}
	}
	return errors.Join(errs...)
}

func sortedIDs[V any](m map[uint32]V) []uint32 {
	ids := make([]uint32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
