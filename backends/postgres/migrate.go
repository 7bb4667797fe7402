package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// A migration brings a table from version-1 to version. Released steps are
// never edited: a schema change is a new step appended to migrations, with
// the next version (for example one that converts the TEXT token columns
// of an adopted better-auth table to BYTEA, byte for byte).
type migration struct {
	version int
	name    string
	up      func(ctx context.Context, tx pgx.Tx, b *Backend) error
}

var migrations = []migration{
	{1, "create accounts table", createTable},
}

// SchemaVersion is the schema version Migrate brings a table to: the
// version of the last step in migrations.
const SchemaVersion = 1

// migrateLock is the pg_advisory_xact_lock key that serialises Migrate
// across processes: "accountv" in ASCII.
const migrateLock int64 = 0x6163636f756e7476

func createTable(ctx context.Context, tx pgx.Tx, b *Backend) error {
	// id is COLLATE "C" so that its primary key index serves the byte
	// order of List and FindForUser.
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + b.qualified + ` (
			id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
			user_id TEXT NOT NULL,
			provider_id TEXT NOT NULL,
			account_id TEXT NOT NULL,
			access_token BYTEA,
			refresh_token BYTEA,
			id_token BYTEA,
			access_token_expires_at BIGINT,
			refresh_token_expires_at BIGINT,
			scope TEXT,
			password TEXT,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL,
			UNIQUE (provider_id, account_id)
		)`,
		`CREATE INDEX IF NOT EXISTS ` + sqlrow.Quote(sqlrow.IndexName(b.table, "user_id_idx")) +
			` ON ` + b.qualified + ` (user_id)`,
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// Migrate creates the accounts table or brings it to [SchemaVersion], and
// records the version in the table accountvault_schema (table_name,
// version) of the same schema. It is idempotent and runs in one
// transaction under a transaction-level advisory lock, so concurrent
// calls, from this process or others, run one after the other and a failed
// call changes nothing.
//
// Migrate refuses a table whose recorded version is newer than this
// package knows. A table dropped by hand must also lose its row in
// accountvault_schema, or Migrate will not create it again.
func (b *Backend) Migrate(ctx context.Context) (err error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return wrap(ctx, "Migrate", err)
	}
	defer func() {
		if err == nil {
			return
		}
		err = wrap(ctx, "Migrate", err)
		if rerr := tx.Rollback(context.Background()); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			err = errors.Join(err, fmt.Errorf("postgres: Migrate: rollback: %w", rerr))
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+b.schemaTable+` (
		table_name TEXT NOT NULL PRIMARY KEY,
		version INTEGER NOT NULL
	)`); err != nil {
		return err
	}
	var version int
	err = tx.QueryRow(ctx, `SELECT version FROM `+b.schemaTable+` WHERE table_name = $1`, b.table).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		version = 0
	case err != nil:
		return err
	}
	if version > SchemaVersion {
		return fmt.Errorf("table %q is at schema version %d, newer than this package's %d", b.table, version, SchemaVersion)
	}
	if version < SchemaVersion {
		for _, m := range migrations[version:] {
			if err := m.up(ctx, tx, b); err != nil {
				return fmt.Errorf("step %d (%s): %w", m.version, m.name, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+b.schemaTable+` (table_name, version) VALUES ($1, $2)
			ON CONFLICT (table_name) DO UPDATE SET version = EXCLUDED.version`, b.table, SchemaVersion); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}
