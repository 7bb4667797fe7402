package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accountvault/accountvault/backends/postgres"
)

// openPostgres opens the Postgres database at url (a postgres:// or
// postgresql:// URL), with a pool the returned database owns and shares
// between the backend and the catalog reads of migrate.
func openPostgres(ctx context.Context, url, table string) (*database, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	b, err := postgres.New(pool, postgres.WithTable(table))
	if err != nil {
		pool.Close()
		return nil, err
	}
	closeAll := func() error {
		err := closer(b)()
		pool.Close()
		if err != nil {
			return fmt.Errorf("postgres: close: %w", err)
		}
		return nil
	}
	return &database{
		backend: b,
		migrate: b.Migrate,
		inspect: postgresInspector(pool, table),
		close:   closeAll,
		name:    redactDB(url),
		table:   table,
	}, nil
}

// closer adapts a Close method with or without an error result.
func closer(b any) func() error {
	switch b := b.(type) {
	case interface{ Close() error }:
		return b.Close
	case interface{ Close() }:
		return func() error { b.Close(); return nil }
	}
	return func() error { return nil }
}
