package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// Backend is an [accountvault.Backend] over one Postgres table. It is safe
// for concurrent use.
type Backend struct {
	pool        *pgxpool.Pool
	owned       bool // pool was opened by Open, and Close closes it
	table       string
	schema      string
	qualified   string // the table, quoted, with its schema if any
	schemaTable string // accountvault_schema, quoted, with the schema if any
	metaTable   string // accountvault_meta, likewise
	sql         [sqlrow.NumStmts]string
	swapBatch   string // the statement of CompareAndSwapBatch
	m           sqlrow.Methods
}

var (
	_ accountvault.Backend    = (*Backend)(nil)
	_ accountvault.TableNamer = (*Backend)(nil)
	_ accountvault.Metadata   = (*Backend)(nil)
)

// Open connects a new pgxpool to the database at url (a postgres:// URL
// or a key=value connection string, as pgxpool.ParseConfig reads them),
// checks that the server answers, and returns a Backend that owns the
// pool: [Backend.Close] closes it.
//
// Open does not create the table: call [Backend.Migrate].
func Open(ctx context.Context, url string, opts ...Option) (*Backend, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, wrap(ctx, "open", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, wrap(ctx, "open", err)
	}
	b := newBackend(pool, cfg)
	b.owned = true
	return b, nil
}

// New returns a Backend over the application's own pool. The Backend
// never closes it, and [Backend.Close] leaves it open.
//
// New does not create the table: call [Backend.Migrate].
func New(pool *pgxpool.Pool, opts ...Option) (*Backend, error) {
	if pool == nil {
		return nil, errors.New("postgres: New: nil *pgxpool.Pool")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newBackend(pool, cfg), nil
}

func newBackend(pool *pgxpool.Pool, cfg config) *Backend {
	b := &Backend{
		pool:        pool,
		table:       cfg.table,
		schema:      cfg.schema,
		qualified:   sqlrow.Quote(cfg.table),
		schemaTable: sqlrow.Quote(sqlrow.SchemaTable),
		metaTable:   sqlrow.Quote(sqlrow.MetaTable),
	}
	if cfg.schema != "" {
		b.qualified = sqlrow.Quote(cfg.schema) + "." + b.qualified
		b.schemaTable = sqlrow.Quote(cfg.schema) + "." + b.schemaTable
		b.metaTable = sqlrow.Quote(cfg.schema) + "." + b.metaTable
	}
	b.sql = buildQueries(b.qualified, b.metaTable)
	b.swapBatch = swapBatchSQL(b.qualified)
	b.m = sqlrow.Methods{DB: runner{b}, Classify: classify, Retryable: retryable, Name: "postgres", Table: cfg.table}
	return b
}

// Table returns the name of the accounts table, without its schema.
func (b *Backend) Table() string { return b.table }

// Close closes the pool if Open opened it. For a Backend made by New it
// does nothing: the application owns its pool. Close always returns nil;
// it has an error result for symmetry with other backends.
func (b *Backend) Close() error {
	if b.owned {
		b.pool.Close()
	}
	return nil
}
