package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

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

// List implements [accountvault.Backend]. IDs are compared as bytes.
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

// runner runs the backend's prepared statements for sqlrow.Methods.
type runner struct{ b *Backend }

func (d runner) QueryRow(ctx context.Context, s sqlrow.Stmt, args, dest []any) error {
	st, err := d.b.stmt(ctx, s)
	if err != nil {
		return err
	}
	return st.QueryRowContext(ctx, args...).Scan(dest...)
}

func (d runner) Query(ctx context.Context, s sqlrow.Stmt, args, dest []any, row func()) error {
	st, err := d.b.stmt(ctx, s)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, args...)
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
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

func (d runner) Exec(ctx context.Context, s sqlrow.Stmt, args []any) (int64, error) {
	st, err := d.b.stmt(ctx, s)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (runner) NoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func (runner) NoTable(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_ERROR && strings.Contains(se.Error(), "no such table")
}
