package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// wrap adds the operation to a driver error, the context's error if the
// context is done, and the error's class (see classify).
func wrap(ctx context.Context, op string, err error) error {
	return sqlrow.Wrap(ctx, "postgres", op, err, classify)
}

// classify names the class of a Postgres or connection error:
// accountvault.ErrTransient, accountvault.ErrDatabaseSetup, or nil.
func classify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return classifyCode(pe.Code)
	}
	var ce *pgconn.ConnectError
	if pgconn.Timeout(err) || pgconn.SafeToRetry(err) || errors.As(err, &ce) {
		return accountvault.ErrTransient
	}
	return sqlrow.ClassifyNet(err)
}

// classifyCode classifies a SQLSTATE.
func classifyCode(code string) error {
	switch code {
	case "53100": // disk_full: the next call meets it too
		return nil
	case "25006", // read_only_sql_transaction
		"42501": // insufficient_privilege
		return accountvault.ErrDatabaseSetup
	case "55P03", // lock_not_available
		"57014", // query_canceled (statement_timeout)
		"57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now
		"25P03": // idle_in_transaction_session_timeout
		return accountvault.ErrTransient
	}
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "40"), // transaction rollback: serialization failure, deadlock
		strings.HasPrefix(code, "53"): // insufficient resources: out of memory, too many connections
		return accountvault.ErrTransient
	case strings.HasPrefix(code, "28"), // invalid authorization specification
		strings.HasPrefix(code, "42"): // syntax error or access rule violation: undefined table or column
		return accountvault.ErrDatabaseSetup
	}
	return nil
}

// retryable reports whether err is a serialization failure (40001) or a
// deadlock (40P01): Postgres rolled the statement back, and it may run
// again. A serializable or distributed engine (CockroachDB, YugabyteDB)
// returns these under contention, and asks clients to retry.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}
