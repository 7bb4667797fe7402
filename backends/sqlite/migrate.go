package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// A migration brings a table from version-1 to version. Released steps are
// never edited: a schema change is a new step appended to migrations, with
// the next version.
type migration struct {
	version int
	name    string
	up      func(ctx context.Context, m *migrator) error
}

// A migrator is what a step works on: one connection, in the IMMEDIATE
// transaction of Migrate, and the table.
type migrator struct {
	c     *sql.Conn
	table string
	// foreignKeys reports that the connection enforced foreign keys before
	// Migrate turned them off for its transaction.
	foreignKeys bool
	// adopting reports that the table existed before any Migrate.
	adopting bool
}

var migrations = []migration{
	{1, "create accounts table", createTable},
	{2, "convert an adopted table to the binary schema", conform},
}

// SchemaVersion is the schema version Migrate brings a table to: the
// version of the last step in migrations.
const SchemaVersion = 2

// adoptedVersion is the version conform brings an existing table to that
// Migrate did not create: the steps after it still run.
const adoptedVersion = 2

func createTable(ctx context.Context, m *migrator) error {
	t := sqlrow.Quote(m.table)
	return execAll(ctx, m.c,
		`CREATE TABLE IF NOT EXISTS `+t+` (
			id TEXT NOT NULL PRIMARY KEY,
			user_id TEXT NOT NULL,
			provider_id TEXT NOT NULL,
			account_id TEXT NOT NULL,
			access_token BLOB,
			refresh_token BLOB,
			id_token BLOB,
			access_token_expires_at INTEGER,
			refresh_token_expires_at INTEGER,
			scope TEXT,
			password TEXT,
			created_at INTEGER NOT NULL,
			updated_at INTEGER NOT NULL,
			UNIQUE (provider_id, account_id)
		)`,
		`CREATE INDEX IF NOT EXISTS `+sqlrow.Quote(sqlrow.IndexName(m.table, "user_id_idx"))+` ON `+t+` (user_id)`,
	)
}

// Migrate creates the accounts table or brings a table it created to
// [SchemaVersion], and records the version in the table
// accountvault_schema (table_name, version). It is idempotent, and runs in
// one IMMEDIATE transaction, so concurrent calls, from this process or
// another, wait for each other and a failed call changes nothing. ctx
// bounds the work, not the final COMMIT, which is never abandoned midway.
// Applications call it at every start.
//
// Migrate never adopts a table it did not create: a table of that name
// with no row in accountvault_schema (better-auth's or pylon's, say) is
// refused with a *[accountvault.TableError] that names [Backend.Adopt],
// the operator's explicit step, and nothing is changed. It also refuses a
// table whose recorded version is newer than this package knows. A table
// dropped by hand must also lose its row in accountvault_schema, or
// Migrate will not create it again.
func (b *Backend) Migrate(ctx context.Context) error { return b.run(ctx, "Migrate", false) }

// Adopt brings an existing table that accountvault did not create (one
// made by better-auth or pylon, for example) to the schema Migrate
// creates, without losing or altering a stored value, and records it in
// accountvault_schema; on a table that is already accountvault's it does
// what Migrate does. It is the operator's step (`accountvault migrate`),
// run once, never at application start. It runs in one IMMEDIATE
// transaction that holds the database's write lock throughout.
//
// The table must have every column of the schema under its snake_case
// name (id, user_id, provider_id, account_id, access_token,
// refresh_token, id_token, access_token_expires_at,
// refresh_token_expires_at, scope, password, created_at, updated_at) or
// under better-auth's default camelCase name (userId, accessToken,
// createdAt, …), which Adopt renames to the snake_case one (ALTER TABLE
// RENAME COLUMN, which also rewrites the indexes, triggers and views that
// name it) in the same transaction; a table with both names of a column
// keeps both, and uses the snake_case one. It may have more columns. If
// its column types, keys or stored values differ from
// the schema's, Adopt rebuilds it (SQLite cannot change a column's type in
// place): it creates the table anew, copies every row, drops the old
// table and renames the new one, then recreates the old table's indexes,
// triggers, UNIQUE and FOREIGN KEY constraints, and the keys below. Values
// are converted so:
//   - tokens: TEXT is stored as a BLOB of the same bytes (the database
//     must be UTF-8, as SQLite databases are unless created otherwise); an
//     empty token, TEXT or BLOB, becomes NULL, which reads back as "" as
//     before;
//   - times: an INTEGER is kept, as epoch seconds; a TEXT ISO-8601 date
//     (better-auth's "2024-05-01T12:00:00.000Z", or SQLite's
//     CURRENT_TIMESTAMP "2024-05-01 12:00:00") becomes the epoch second it
//     falls in, read as UTC if it names no offset; a TEXT of digits is
//     read as epoch seconds;
//   - ids, scope and password: kept as TEXT (an INTEGER id becomes its
//     decimal text).
//
// The other columns are copied unchanged, with their declared type, NOT
// NULL and DEFAULT, except that one NOT NULL without a DEFAULT (better-auth
// 1.7.0 to 1.7.2's issuer) loses its NOT NULL: every insert through the
// Backend, which writes the schema's columns only, would fail on it. The rebuild drops the defaults of the schema's own
// columns, and any CHECK constraint, DEFERRABLE clause, column collation
// or WITHOUT ROWID and STRICT options of the old table. Views on the
// table are kept. Foreign keys are not enforced during the rebuild; if
// the connection enforced them, they are checked on the new table before
// commit.
//
// Adopt then adds a unique index on (provider_id, account_id) and an
// index on user_id if the table has none. It refuses, with an error
// wrapping [accountvault.ErrIncompatibleTable] and changing nothing, a table that lacks
// a column, has a generated column, holds a value it cannot convert
// without guessing (a number in a token column, a REAL or unparsable
// time, an integer time above 1e11 in absolute value, which looks like
// milliseconds), a NULL in id, user_id, provider_id, account_id,
// created_at or updated_at, or two rows with the same id or the same
// (provider_id, account_id). The error is a *[TableError] naming the
// column and at most one offending row id.
func (b *Backend) Adopt(ctx context.Context) error { return b.run(ctx, "Adopt", true) }

// run is Migrate (adopt false) and Adopt (adopt true).
func (b *Backend) run(ctx context.Context, op string, adopt bool) (err error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return errClosed
	}
	c, err := b.db.Conn(ctx)
	if err != nil {
		return wrap(ctx, op, err)
	}
	defer func() {
		if cerr := c.Close(); cerr != nil {
			err = errors.Join(err, wrap(ctx, op, cerr))
		}
	}()
	m := &migrator{c: c, table: b.table}
	// Foreign keys cannot be switched inside a transaction, and a table
	// rebuild must not run with them on: DROP TABLE would act as a DELETE
	// and fire the ON DELETE actions of tables that reference this one.
	var fk int
	if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return wrap(ctx, op, err)
	}
	if fk != 0 {
		m.foreignKeys = true
		if _, err := c.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
			return wrap(ctx, op, err)
		}
		defer func() {
			if _, ferr := c.ExecContext(context.Background(), "PRAGMA foreign_keys = ON"); ferr != nil {
				err = errors.Join(err, fmt.Errorf("sqlite: "+op+": turning foreign keys back on: %w", ferr))
				// Never hand the pool a connection that no longer
				// enforces them.
				if rerr := c.Raw(func(any) error { return driver.ErrBadConn }); !errors.Is(rerr, driver.ErrBadConn) {
					err = errors.Join(err, rerr)
				}
			}
		}()
	}
	// BEGIN IMMEDIATE takes the write lock at once, under busy_timeout,
	// whatever _txlock the application's DSN sets; a DEFERRED transaction
	// that reads first could fail with SQLITE_BUSY on its first write.
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return wrap(ctx, op, err)
	}
	if err := b.migrate(ctx, m, adopt); err != nil {
		err = wrap(ctx, op, err)
		// A failed statement may have rolled the transaction back already
		// (SQLite does so on an interrupt); the ROLLBACK then fails too,
		// and that is reported alongside.
		if _, rerr := c.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
			err = errors.Join(err, fmt.Errorf("sqlite: "+op+": rollback: %w", rerr))
		}
		return err
	}
	// The work is done: the commit is not abandoned midway. (The driver
	// reports a statement during which ctx ended as failed, even one that
	// completed: a COMMIT so reported may have committed.)
	if _, err := c.ExecContext(context.WithoutCancel(ctx), "COMMIT"); err != nil {
		err = wrap(ctx, op, err)
		if _, rerr := c.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
			err = errors.Join(err, fmt.Errorf("sqlite: "+op+": rollback: %w", rerr))
		}
		return err
	}
	return nil
}

func (b *Backend) migrate(ctx context.Context, m *migrator, adopt bool) error {
	c := m.c
	// Table names are ASCII identifiers and SQLite compares them
	// case-insensitively: so does table_name.
	if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+sqlrow.SchemaTable+` (
		table_name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
		version INTEGER NOT NULL
	)`); err != nil {
		return err
	}
	if _, err := c.ExecContext(ctx, sqlrow.CreateMetaTable(sqlrow.Quote(sqlrow.MetaTable), "BLOB")); err != nil {
		return err
	}
	var version int
	err := c.QueryRowContext(ctx, `SELECT version FROM `+sqlrow.SchemaTable+` WHERE table_name = ?`, b.table).Scan(&version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		version = 0
	case err != nil:
		return err
	}
	if version > SchemaVersion {
		return fmt.Errorf("table %q is at schema version %d, newer than this package's %d", b.table, version, SchemaVersion)
	}
	if version == SchemaVersion {
		return nil
	}
	if version == 0 {
		var kind string
		err := c.QueryRowContext(ctx, `SELECT type FROM sqlite_schema
			WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')`, b.table).Scan(&kind)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case kind != "table":
			return &TableError{Table: b.table, Reason: "is a " + kind + ", not a table"}
		case !adopt:
			return &TableError{Table: b.table, Reason: "exists but was not created by accountvault: " +
				"adopting it is an operator's step (Backend.Adopt, `accountvault migrate`), never Migrate's"}
		default:
			m.adopting = true
			if err := conform(ctx, m); err != nil {
				return err
			}
			// Until the store declares legacy sealing finished, the
			// adopted table may hold legacy plaintext tokens.
			if _, err := c.ExecContext(ctx, `INSERT INTO `+sqlrow.Quote(sqlrow.MetaTable)+` (table_name, name, value)
				VALUES (?, ?, ?) ON CONFLICT (table_name, name) DO UPDATE SET value = excluded.value`,
				b.table, sqlrow.MetaLegacy, []byte(sqlrow.LegacyOpen)); err != nil {
				return err
			}
			version = adoptedVersion
		}
	}
	for _, s := range migrations[version:] {
		if err := s.up(ctx, m); err != nil {
			return fmt.Errorf("step %d (%s): %w", s.version, s.name, err)
		}
	}
	_, err = c.ExecContext(ctx, `INSERT INTO `+sqlrow.SchemaTable+` (table_name, version) VALUES (?, ?)
		ON CONFLICT (table_name) DO UPDATE SET version = excluded.version`, b.table, SchemaVersion)
	return err
}

func execAll(ctx context.Context, c *sql.Conn, stmts ...string) error {
	for _, s := range stmts {
		if _, err := c.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}
