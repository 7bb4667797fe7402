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
// the next version.
type migration struct {
	version int
	name    string
	up      func(ctx context.Context, tx pgx.Tx, m *migrator) error
}

// A migrator is what a step works on.
type migrator struct {
	b *Backend
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

// migrateLock is the pg_advisory_xact_lock key that serialises Migrate
// across processes: "accountv" in ASCII.
const migrateLock int64 = 0x6163636f756e7476

func createTable(ctx context.Context, tx pgx.Tx, m *migrator) error {
	b := m.b
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
// call changes nothing. ctx bounds the work, not the final COMMIT, which
// is never abandoned midway.
//
// Call Migrate before serving. Converting an adopted table (below) locks
// it, reads and writes included, until Migrate commits. And a connection
// of the pool that ran a query on the table before the conversion holds a
// prepared statement whose result types are now wrong: Postgres refuses
// its next execution with "cached plan must not change result type". The
// Backend's own methods retry once per connection when that happens, as
// pgx then forgets the statement; other code sharing the pool sees the
// error once per statement and connection, unless the pool is reset
// (pgxpool.Pool.Reset) after Migrate.
//
// # Adopting an existing table
//
// A table that exists but has no row in accountvault_schema (one created
// by better-auth or pylon, for example) is adopted: brought to the schema
// Migrate creates, in place (ALTER TABLE), without losing or altering a
// stored value. It must have every column of that schema under its
// snake_case name (id, user_id, provider_id, account_id, access_token,
// refresh_token, id_token, access_token_expires_at,
// refresh_token_expires_at, scope, password, created_at, updated_at); it
// may have more, which are left alone. Columns are converted so:
//
//   - tokens: text or varchar becomes bytea holding the same UTF-8 bytes
//     (convert_to(col, 'UTF8'); the database must be UTF8); an empty token
//     becomes NULL, which reads back as "" as before;
//   - times: timestamptz becomes bigint epoch seconds,
//     floor(EXTRACT(EPOCH FROM col)), the second the instant falls in, as
//     time.Time.Unix counts; a timestamp without time zone or a date is
//     read as UTC; integer and smallint are widened to bigint;
//   - ids, scope and password must be text or varchar, and are kept.
//
// Each converted column loses its DEFAULT (a timestamp default such as
// now() has no bigint meaning; the Backend always writes every column).
// id, user_id, provider_id, account_id, created_at and updated_at become
// NOT NULL. Migrate adds a primary key (or, if the table has another, a
// unique constraint) on id, a unique constraint on (provider_id,
// account_id) and an index on user_id, unless the table has equivalent
// ones.
//
// Migrate refuses, with an error wrapping [ErrIncompatibleTable] and
// changing nothing, a table that lacks a column, has a column of another
// type (a uuid id, say), holds a NULL in one of the NOT NULL columns
// above, an infinite timestamp, an integer time above 1e11 in absolute
// value (which looks like milliseconds), or two rows with the same id or
// the same (provider_id, account_id). The error is a *[TableError]
// naming the column and at most one offending row id. A view, rule or
// publication that depends on a converted column makes the conversion
// fail with Postgres's error, again changing nothing.
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
	if version == SchemaVersion {
		return tx.Commit(context.WithoutCancel(ctx))
	}
	m := &migrator{b: b}
	if version == 0 {
		var kind *string
		if err := tx.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)`, b.qualified).Scan(&kind); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		switch {
		case kind == nil:
		case *kind == "r" || *kind == "p":
			m.adopting = true
			if err := conform(ctx, tx, m); err != nil {
				return err
			}
			version = adoptedVersion
		default:
			return &TableError{Table: b.table, Reason: "is not a table (pg_class.relkind " + *kind + ")"}
		}
	}
	for _, s := range migrations[version:] {
		if err := s.up(ctx, tx, m); err != nil {
			return fmt.Errorf("step %d (%s): %w", s.version, s.name, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+b.schemaTable+` (table_name, version) VALUES ($1, $2)
		ON CONFLICT (table_name) DO UPDATE SET version = EXCLUDED.version`, b.table, SchemaVersion); err != nil {
		return err
	}
	// The work is done: the commit is not abandoned midway, which would
	// leave its outcome unknown.
	return tx.Commit(context.WithoutCancel(ctx))
}
