package postgres

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// retryStale runs f, and runs it again if it failed because Postgres
// refused a statement that pgx had prepared on that connection before
// Migrate changed the table's column types ("cached plan must not change
// result type"). The server refuses such a statement before executing it,
// so running f again is safe; and pgx forgets a statement that failed, so
// each pooled connection fails so at most once per statement. f runs at
// most the pool's size plus one times.
func (b *Backend) retryStale(f func() error) error {
	err := f()
	if !staleStatement(err) {
		return err
	}
	for range b.pool.Config().MaxConns {
		if err = f(); !staleStatement(err) {
			break
		}
	}
	return err
}

// staleStatement reports whether err is Postgres refusing a prepared
// statement whose result types changed under it.
func staleStatement(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "0A000" && strings.Contains(pe.Message, "cached plan must not change result type")
}
