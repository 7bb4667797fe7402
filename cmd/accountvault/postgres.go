package main

import (
	"context"

	"github.com/accountvault/accountvault/backends/postgres"
)

// openPostgres opens the Postgres database at url (a postgres:// or
// postgresql:// URL), with a pool the returned database owns.
func openPostgres(ctx context.Context, url, table string) (*database, error) {
	b, err := postgres.Open(ctx, url, postgres.WithTable(table))
	if err != nil {
		return nil, err
	}
	return &database{backend: b, migrate: b.Migrate, close: closer(b), name: redactDB(url), table: table}, nil
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
