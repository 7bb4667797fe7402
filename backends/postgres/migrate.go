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

// Migrate creates the accounts table or brings a table it created to
// [SchemaVersion], and records the version in the table
// accountvault_schema (table_name, version) of the same schema. It is
// idempotent and runs in one transaction under a transaction-level
// advisory lock, so concurrent calls, from this process or others, run one
// after the other and a failed call changes nothing. ctx bounds the work,
// not the final COMMIT, which is never abandoned midway. Applications call
// it at every start.
//
// Migrate never adopts a table it did not create: a table of that name
// with no row in accountvault_schema (better-auth's or pylon's, say) is
// refused with a *[accountvault.TableError] that names [Backend.Adopt],
// the operator's explicit step, and nothing is changed. It also refuses a
// table whose recorded version is newer than this package knows. A table
// dropped by hand must also lose its row in accountvault_schema, or
// Migrate will not create it again.
//
// A table that an earlier release recorded at version 1 (adopted without
// converting its columns) is converted as Adopt converts, and the pool is
// then reset as Adopt resets it.
//
// Migrate and Adopt refuse, with an [*EngineError] and changing nothing,
// an engine whose version() names CockroachDB or YugabyteDB: they lack
// the transactional DDL and advisory locks Migrate relies on.
func (b *Backend) Migrate(ctx context.Context) error {
	converted, err := b.run(ctx, "Migrate", false)
	if converted {
		b.pool.Reset()
	}
	return err
}

// Adopt brings an existing table that accountvault did not create (one
// made by better-auth or pylon, for example) to the schema Migrate
// creates, in place (ALTER TABLE), without losing or altering a stored
// value, and records it in accountvault_schema; on a table that is
// already accountvault's it does what Migrate does. It is the operator's
// step (`accountvault migrate`), run once, never at application start. It
// runs in one transaction under Migrate's advisory lock, and the
// conversion locks the table, reads and writes included, until it commits.
//
// After a conversion Adopt resets the pool (pgxpool.Pool.Reset): a
// connection that ran a query on the table before holds a prepared
// statement whose result types are now wrong, which Postgres would refuse
// ("cached plan must not change result type"). Other processes that
// queried the table before must reconnect.
// It must have every column of that schema under its
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
// NOT NULL. Adopt adds a primary key (or, if the table has another, a
// unique constraint) on id, a unique constraint on (provider_id,
// account_id) and an index on user_id, unless the table has equivalent
// ones.
//
// Adopt refuses, with an error wrapping [accountvault.ErrIncompatibleTable] and
// changing nothing, a table that lacks a column, has a column of another
// type (a uuid id, say), holds a NULL in one of the NOT NULL columns
// above, an infinite timestamp, an integer time above 1e11 in absolute
// value (which looks like milliseconds), or two rows with the same id or
// the same (provider_id, account_id). The error is a *[TableError]
// naming the column and at most one offending row id. A view, rule or
// publication that depends on a converted column makes the conversion
// fail with Postgres's error, again changing nothing.
func (b *Backend) Adopt(ctx context.Context) error {
	converted, err := b.run(ctx, "Adopt", true)
	if converted {
		b.pool.Reset()
	}
	return err
}

// run is Migrate (adopt false) and Adopt (adopt true). converted reports
// a committed conversion of a table that existed before: of a foreign
// table, or of one recorded at an older version.
func (b *Backend) run(ctx context.Context, op string, adopt bool) (converted bool, err error) {
	if err := b.checkEngine(ctx, op); err != nil {
		return false, err
	}
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return false, wrap(ctx, op, err)
	}
	defer func() {
		if err == nil {
			return
		}
		converted = false
		err = wrap(ctx, op, err)
		if rerr := tx.Rollback(context.Background()); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			err = errors.Join(err, fmt.Errorf("postgres: %s: rollback: %w", op, rerr))
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+b.schemaTable+` (
		table_name TEXT NOT NULL PRIMARY KEY,
		version INTEGER NOT NULL
	)`); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, sqlrow.CreateMetaTable(b.metaTable, "BYTEA")); err != nil {
		return false, err
	}
	var version int
	err = tx.QueryRow(ctx, `SELECT version FROM `+b.schemaTable+` WHERE table_name = $1`, b.table).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		version = 0
	case err != nil:
		return false, err
	}
	if version > SchemaVersion {
		return false, fmt.Errorf("table %q is at schema version %d, newer than this package's %d", b.table, version, SchemaVersion)
	}
	if version == SchemaVersion {
		return false, tx.Commit(context.WithoutCancel(ctx))
	}
	m := &migrator{b: b}
	// The steps after version 0 work on an existing table.
	existed := version > 0
	if version == 0 {
		var kind *string
		if err := tx.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)`, b.qualified).Scan(&kind); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return false, err
		}
		switch {
		case kind == nil:
		case (*kind == "r" || *kind == "p") && !adopt:
			return false, &TableError{Table: b.table, Reason: "exists but was not created by accountvault: " +
				"adopting it is an operator's step (Backend.Adopt, `accountvault migrate`), never Migrate's"}
		case *kind == "r" || *kind == "p":
			m.adopting = true
			if err := conform(ctx, tx, m); err != nil {
				return false, err
			}
			// Until the store declares legacy sealing finished, the
			// adopted table may hold legacy plaintext tokens.
			if _, err := tx.Exec(ctx, `INSERT INTO `+b.metaTable+` (table_name, name, value)
				VALUES ($1, $2, $3) ON CONFLICT (table_name, name) DO UPDATE SET value = EXCLUDED.value`,
				b.table, sqlrow.MetaLegacy, []byte(sqlrow.LegacyOpen)); err != nil {
				return false, err
			}
			version = adoptedVersion
		default:
			return false, &TableError{Table: b.table, Reason: "is not a table (pg_class.relkind " + *kind + ")"}
		}
	}
	for _, s := range migrations[version:] {
		if err := s.up(ctx, tx, m); err != nil {
			return false, fmt.Errorf("step %d (%s): %w", s.version, s.name, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+b.schemaTable+` (table_name, version) VALUES ($1, $2)
		ON CONFLICT (table_name) DO UPDATE SET version = EXCLUDED.version`, b.table, SchemaVersion); err != nil {
		return false, err
	}
	// The work is done: the commit is not abandoned midway, which would
	// leave its outcome unknown.
	if err := tx.Commit(context.WithoutCancel(ctx)); err != nil {
		return false, err
	}
	return existed || m.adopting, nil
}
