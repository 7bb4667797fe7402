package sqlite

import (
	"errors"
	"strings"
	"time"

	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// DefaultBusyTimeout is how long Open's connections wait for a lock held by
// another connection before failing with SQLITE_BUSY.
const DefaultBusyTimeout = 5 * time.Second

// An Option configures Open or New.
type Option func(*config) error

type config struct {
	table       string
	busyTimeout time.Duration
}

func newConfig(opts []Option) (config, error) {
	c := config{table: sqlrow.DefaultTable, busyTimeout: DefaultBusyTimeout}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// WithTable sets the name of the accounts table (default "accounts"). The
// name must match ^[A-Za-z_][A-Za-z0-9_]{0,62}$, must not begin with
// "sqlite_" and must not be "accountvault_schema"; Open and New refuse any
// other name. SQLite compares table names case-insensitively.
//
// The store binds sealed values to this name: renaming the table later
// makes them fail to open.
func WithTable(name string) Option {
	return func(c *config) error {
		if err := sqlrow.CheckIdent("table", name); err != nil {
			return err
		}
		if len(name) >= 7 && strings.EqualFold(name[:7], "sqlite_") {
			return errors.New("sqlite: table name must not begin with sqlite_, which SQLite reserves")
		}
		c.table = name
		return nil
	}
}

// WithBusyTimeout sets how long a connection opened by Open waits for
// another connection's lock before failing with SQLITE_BUSY (default
// [DefaultBusyTimeout]). It must be positive, and is rounded down to whole
// milliseconds. New ignores it: the application's DSN decides.
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return errors.New("sqlite: busy timeout must be at least 1ms")
		}
		c.busyTimeout = d
		return nil
	}
}
