package postgres

import (
	"context"
	"strings"

	"github.com/accountvault/accountvault"
)

// EngineError is returned by Migrate and Adopt on a Postgres-compatible
// engine whose semantics they rely on but that the engine lacks. It
// matches [accountvault.ErrDatabaseSetup]: create and migrate the table on
// an engine that has them, or by hand (SECURITY.md, "Engines and scale").
type EngineError struct {
	Engine  string // "CockroachDB", "YugabyteDB"
	Version string // what SELECT version() answered
	Lacks   string // what Migrate needs that the engine does not give
}

func (e *EngineError) Error() string {
	return "postgres: Migrate does not run on " + e.Engine + ": it needs " + e.Lacks
}

// Is makes an EngineError match accountvault.ErrDatabaseSetup.
func (e *EngineError) Is(target error) bool { return target == accountvault.ErrDatabaseSetup }

// checkEngine refuses the engines whose version string names one that
// Migrate cannot run on (see engineError).
func (b *Backend) checkEngine(ctx context.Context, op string) error {
	var v string
	if err := b.pool.QueryRow(ctx, `SELECT version()`).Scan(&v); err != nil {
		return wrap(ctx, op, err)
	}
	if e := engineError(v); e != nil {
		return e
	}
	return nil
}

// engineError returns the EngineError for the engine whose version() is v,
// or nil for PostgreSQL (and engines that answer as PostgreSQL does).
//
// Migrate runs its DDL (CREATE TABLE, CREATE INDEX, ALTER TABLE) in one
// transaction, so that a failed or interrupted call changes nothing, under
// pg_advisory_xact_lock, so that replicas starting at once migrate one
// after the other. CockroachDB commits DDL outside the transaction that
// issued it (autocommit_before_ddl, the default since v25.1) and honoured
// advisory locks only as no-ops until 2026; YugabyteDB runs each DDL
// statement as its own transaction. On either, two replicas could both
// create or convert the table, and a failed call could leave it half
// migrated.
func engineError(v string) *EngineError {
	const lacks = "transactional DDL and pg_advisory_xact_lock, which it relies on to migrate atomically and one caller at a time"
	switch {
	case strings.Contains(v, "CockroachDB"):
		return &EngineError{Engine: "CockroachDB", Version: v, Lacks: lacks}
	case strings.Contains(v, "YugabyteDB"), strings.Contains(v, "-YB-"):
		return &EngineError{Engine: "YugabyteDB", Version: v, Lacks: lacks}
	}
	return nil
}
