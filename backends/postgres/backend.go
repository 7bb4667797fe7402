package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// Upsert implements [accountvault.Backend].
func (b *Backend) Upsert(ctx context.Context, r accountvault.SealedRow) (accountvault.SealedRow, error) {
	return b.m.Upsert(ctx, r)
}

// FindByProvider implements [accountvault.Backend].
func (b *Backend) FindByProvider(ctx context.Context, providerID, accountID string) (accountvault.SealedRow, error) {
	return b.m.FindByProvider(ctx, providerID, accountID)
}

// FindForUser implements [accountvault.Backend].
func (b *Backend) FindForUser(ctx context.Context, userID string) ([]accountvault.SealedRow, error) {
	return b.m.FindForUser(ctx, userID)
}

// Unlink implements [accountvault.Backend].
func (b *Backend) Unlink(ctx context.Context, providerID, accountID string) error {
	return b.m.Unlink(ctx, providerID, accountID)
}

// DeleteUser implements [accountvault.Backend].
func (b *Backend) DeleteUser(ctx context.Context, userID string) (int, error) {
	return b.m.DeleteUser(ctx, userID)
}

// List implements [accountvault.Backend]. IDs are compared as bytes
// (Postgres: in the "C" collation, whatever the column's).
func (b *Backend) List(ctx context.Context, after string, limit int) ([]accountvault.SealedRow, error) {
	return b.m.List(ctx, after, limit)
}

// CompareAndSwap implements [accountvault.Backend].
func (b *Backend) CompareAndSwap(ctx context.Context, old, new accountvault.SealedRow) error {
	return b.m.CompareAndSwap(ctx, old, new)
}

// Count returns the number of rows in the table. The command-line tool
// uses it to estimate the remaining time of a walk over the table; it
// scans the table (or an index of it), so it is not meant for a hot path.
func (b *Backend) Count(ctx context.Context) (int64, error) {
	return b.m.Count(ctx)
}

// Meta implements [accountvault.Metadata].
func (b *Backend) Meta(ctx context.Context, name string) ([]byte, error) {
	return b.m.Meta(ctx, name)
}

// SwapMeta implements [accountvault.Metadata].
func (b *Backend) SwapMeta(ctx context.Context, name string, old, new []byte) error {
	return b.m.SwapMeta(ctx, name, old, new)
}

// runner runs the backend's statements on its pool for sqlrow.Methods. pgx
// prepares and caches each statement per connection.
type runner struct{ b *Backend }

func (d runner) QueryRow(ctx context.Context, s sqlrow.Stmt, args, dest []any) error {
	return d.b.pool.QueryRow(ctx, d.b.sql[s], args...).Scan(dest...)
}

func (d runner) Query(ctx context.Context, s sqlrow.Stmt, args, dest []any, row func()) error {
	rows, err := d.b.pool.Query(ctx, d.b.sql[s], args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		row()
	}
	return rows.Err()
}

func (d runner) Exec(ctx context.Context, s sqlrow.Stmt, args []any) (int64, error) {
	tag, err := d.b.pool.Exec(ctx, d.b.sql[s], args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (runner) NoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func (runner) NoTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01" // undefined_table
}
