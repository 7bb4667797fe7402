package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// A migration brings a table from version-1 to version. Released steps are
// never edited: a schema change is a new step appended to migrations, with
// the next version (for example one that rewrites the TEXT token columns of
// an adopted better-auth table as BLOB, byte for byte).
type migration struct {
	version int
	name    string
	up      func(ctx context.Context, c *sql.Conn, table string) error
}

var migrations = []migration{
	{1, "create accounts table", createTable},
}

// SchemaVersion is the schema version Migrate brings a table to: the
// version of the last step in migrations.
const SchemaVersion = 1

func createTable(ctx context.Context, c *sql.Conn, table string) error {
	t := sqlrow.Quote(table)
	return execAll(ctx, c,
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
		`CREATE INDEX IF NOT EXISTS `+sqlrow.Quote(sqlrow.IndexName(table, "user_id_idx"))+` ON `+t+` (user_id)`,
	)
}

// Migrate creates the accounts table or brings it to [SchemaVersion], and
// records the version in the table accountvault_schema (table_name,
// version). It is idempotent, and runs in one IMMEDIATE transaction, so
// concurrent calls, from this process or another, wait for each other and
// a failed call changes nothing.
//
// Migrate refuses a table whose recorded version is newer than this
// package knows. A table dropped by hand must also lose its row in
// accountvault_schema, or Migrate will not create it again.
func (b *Backend) Migrate(ctx context.Context) (err error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return errClosed
	}
	c, err := b.db.Conn(ctx)
	if err != nil {
		return wrap(ctx, "Migrate", err)
	}
	defer func() {
		if cerr := c.Close(); cerr != nil {
			err = errors.Join(err, wrap(ctx, "Migrate", cerr))
		}
	}()
	// BEGIN IMMEDIATE takes the write lock at once, under busy_timeout,
	// whatever _txlock the application's DSN sets; a DEFERRED transaction
	// that reads first could fail with SQLITE_BUSY on its first write.
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return wrap(ctx, "Migrate", err)
	}
	if err := b.migrate(ctx, c); err != nil {
		err = wrap(ctx, "Migrate", err)
		// A failed statement may have rolled the transaction back already
		// (SQLite does so on an interrupt); the ROLLBACK then fails too,
		// and that is reported alongside.
		if _, rerr := c.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
			err = errors.Join(err, fmt.Errorf("sqlite: Migrate: rollback: %w", rerr))
		}
		return err
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		err = wrap(ctx, "Migrate", err)
		if _, rerr := c.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
			err = errors.Join(err, fmt.Errorf("sqlite: Migrate: rollback: %w", rerr))
		}
		return err
	}
	return nil
}

func (b *Backend) migrate(ctx context.Context, c *sql.Conn) error {
	// Table names are ASCII identifiers and SQLite compares them
	// case-insensitively: so does table_name.
	if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+sqlrow.SchemaTable+` (
		table_name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
		version INTEGER NOT NULL
	)`); err != nil {
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
	for _, m := range migrations[version:] {
		if err := m.up(ctx, c, b.table); err != nil {
			return fmt.Errorf("step %d (%s): %w", m.version, m.name, err)
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
