package cli

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
	"github.com/accountvault/accountvault/backends/postgres"
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

// addKeyring adds --db and --table to a command that uses a keyring but
// no table otherwise: with --keyring db they name the database keyring.
func (f *dbFlags) addKeyring(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.db, "db", "", "with --keyring db: the database holding the keyring (a SQLite file path, or a postgres:// URL)")
	cmd.Flags().StringVar(&f.table, "table", defaultTable, "with --keyring db: the accounts `table` the keyring is kept beside")
}

// database is an opened backend.
type database struct {
	backend backend
	name    string // the --db argument, with any password redacted
	table   string
}

// backend is what the CLI needs of a backend: both SQL backends have it.
type backend interface {
	accountvault.Backend
	accountvault.Metadata
	// Migrate creates the table or checks it is accountvault's.
	Migrate(ctx context.Context) error
	// Adopt brings a foreign table to accountvault's schema.
	Adopt(ctx context.Context) error
	// Inspect reads what the catalog says of the table, reading no row.
	Inspect(ctx context.Context) (accountvault.TableInfo, error)
	// Count counts the rows.
	Count(ctx context.Context) (int64, error)
	Close() error
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
		b, err := postgres.Open(ctx, f.db, postgres.WithTable(f.table))
		if err != nil {
			// pgx errors name the host, user and database, never the password.
			return nil, configErr(fmt.Errorf("opening %s: %w", redactDB(f.db), err))
		}
		return &database{backend: b, name: redactDB(f.db), table: f.table}, nil
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
	return &database{backend: b, name: f.db, table: f.table}, nil
}

// closeDB closes d, joining a close error to err.
func closeDB(d *database, err *error) {
	if cerr := d.backend.Close(); cerr != nil && *err == nil {
		*err = failedErr(fmt.Errorf("closing the database: %w", cerr))
	}
}

// probeTable reads one row, so that a missing table or an unreachable
// database is reported as a configuration error before any work. A row
// whose time is not epoch seconds shows that the table is there: the
// command's walk lists it like any other.
func probeTable(ctx context.Context, d *database) error {
	if _, err := d.backend.List(ctx, "", 1); err != nil && !errors.Is(err, accountvault.ErrInvalidTime) {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return configErr(fmt.Errorf("cannot read table %q of %s (wrong --table, or run 'accountvault migrate' first?): %w", d.table, d.name, err))
	}
	return nil
}

// requireAdopted refuses, with a configuration error naming the migrate
// command, a table that accountvault neither created nor adopted: what its
// unsealed values are is not for check to say before it is adopted.
func (c *cli) requireAdopted(ctx context.Context, d *database, f dbFlags) error {
	info, err := d.backend.Inspect(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return configErr(fmt.Errorf("reading the catalog of %s: %w", d.name, err))
	}
	if info.Exists && info.Version == 0 {
		migrate := c.command("migrate").db(f)
		return configErr(fmt.Errorf("table %q in %s was not created by accountvault and is not adopted yet%s: run %s", d.table, d.name, migrate.note(), migrate))
	}
	return nil
}

// newAdmin wraps d in a store that logs audit events to the CLI's logger,
// and returns its operator's side.
func (c *cli) newAdmin(d *database, k *keyring.Keyring, opts ...store.Option) (*store.Admin, error) {
	keys, err := k.KEK()
	if err != nil {
		return nil, configErr(err)
	}
	s, err := store.New(d.backend, keys, append([]store.Option{store.WithLogger(c.log)}, opts...)...)
	if err != nil {
		return nil, configErr(err)
	}
	return store.NewAdmin(s), nil
}

// verifyKeyring fails, with a configuration error, if k cannot open the
// table's data: the store's keyring check fails, or a key that stored
// values name is missing from k or disabled in it. It reads only. It
// returns the per-key usage and the number of rows. If ctx is done, it
// says so on stderr and returns errInterrupted.
func (c *cli) verifyKeyring(ctx context.Context, a *store.Admin, d *database, batch int) (map[uint32]int, int, error) {
	return c.checkKeyring(ctx, a, d, batch, func(phase string) {
		fmt.Fprintf(c.stderr, "accountvault: interrupted while %s: nothing was changed\n", phase)
	})
}

// checkKeyring is verifyKeyring, calling interrupted with what it was
// doing, instead of printing, if ctx is done.
func (c *cli) checkKeyring(ctx context.Context, a *store.Admin, d *database, batch int, interrupted func(phase string)) (map[uint32]int, int, error) {
	if err := a.CheckKeyring(ctx); err != nil {
		return nil, 0, c.keyringError(ctx, d, err, interrupted)
	}
	prog := c.newProgress("scan", -1, func(p store.Progress) string {
		return fmt.Sprintf("scan: %d rows seen, %.0f rows/s", p.Seen, p.RowsPerSecond())
	})
	usage, rows, err := a.CheckKeys(ctx, store.WalkOptions{BatchSize: batch, Progress: prog.update})
	prog.finish()
	if err != nil {
		return nil, 0, c.keyringError(ctx, d, err, interrupted)
	}
	return usage, rows, nil
}

// keyringError explains an error of the store's keyring checks.
func (c *cli) keyringError(ctx context.Context, d *database, err error, interrupted func(phase string)) error {
	var mk *store.MissingKeysError
	switch {
	case ctx.Err() != nil:
		interrupted("checking the keyring")
		return errInterrupted
	case errors.Is(err, store.ErrWrongKeyring):
		return configErr(fmt.Errorf("%s cannot open the data of table %q in %s (another deployment's keyring, or the wrong --table?): %w", c.keyringName(), d.table, d.name, err))
	case errors.As(err, &mk):
		return configErr(missingKeys(mk))
	case errors.Is(err, store.ErrLegacyClosed), errors.Is(err, keyring.ErrRollback):
		return configErr(err)
	}
	return failedErr(err)
}

// keyringMissing returns the keys that usage names but k does not hold
// enabled, or nil. Key id 0 counts malformed values, which no key opens.
func keyringMissing(k *keyring.Keyring, usage map[uint32]int) *store.MissingKeysError {
	status := map[uint32]keyring.Status{}
	for _, ki := range k.Keys() {
		status[ki.ID] = ki.Status
	}
	mk := &store.MissingKeysError{Missing: map[uint32]int{}, Disabled: map[uint32]int{}}
	for id, n := range usage {
		if id == 0 || n == 0 {
			continue
		}
		switch st, ok := status[id]; {
		case !ok:
			mk.Missing[id] = n
		case st == keyring.Disabled:
			mk.Disabled[id] = n
		}
	}
	if len(mk.Missing)+len(mk.Disabled) == 0 {
		return nil
	}
	return mk
}

// missingKeys explains a *store.MissingKeysError, key by key, with the
// command that mends a disabled key.
func missingKeys(mk *store.MissingKeysError) error {
	var errs []error
	for _, id := range sortedIDs(mk.Missing) {
		errs = append(errs, fmt.Errorf("keyring lacks key %d used by %s", id, plural(mk.Missing[id], "value")))
	}
	for _, id := range sortedIDs(mk.Disabled) {
		errs = append(errs, fmt.Errorf("keyring holds key %d disabled, but it is used by %s (enable it with 'accountvault keys enable %d')", id, plural(mk.Disabled[id], "value"), id))
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
