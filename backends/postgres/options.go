package postgres

import (
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// An Option configures Open or New.
type Option func(*config) error

type config struct {
	table  string
	schema string // "" for the search path
}

func newConfig(opts []Option) (config, error) {
	c := config{table: sqlrow.DefaultTable}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// WithTable sets the name of the accounts table (default "accounts"). The
// name must match ^[A-Za-z_][A-Za-z0-9_]{0,62}$ and must not be
// "accountvault_schema"; Open and New refuse any other name. It is quoted
// in SQL, so it is case-sensitive.
//
// The store binds sealed values to this name: renaming the table later
// makes them fail to open.
func WithTable(name string) Option {
	return func(c *config) error {
		if err := sqlrow.CheckIdent("table", name); err != nil {
			return err
		}
		c.table = name
		return nil
	}
}

// WithSchema places the accounts table, and its accountvault_schema
// version table, in the named schema, which must exist (Migrate does not
// create it). The name follows the rules of [WithTable]. Without it, both
// tables are found, and created, through the connection's search_path.
//
// The schema is not part of [Backend.Table]: moving the table to another
// schema does not invalidate its sealed values.
func WithSchema(name string) Option {
	return func(c *config) error {
		if err := sqlrow.CheckIdent("schema", name); err != nil {
			return err
		}
		c.schema = name
		return nil
	}
}
