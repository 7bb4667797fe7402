package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// Inspect reads what the database's catalog says of the table: whether it
// exists and as what, its columns and their declared types, and the schema
// version Migrate or Adopt recorded for it. It reads no row of the table
// and writes nothing. Operator tools use it to explain what Adopt will do,
// and did.
func (b *Backend) Inspect(ctx context.Context) (accountvault.TableInfo, error) {
	st, err := b.inspect(ctx)
	if err != nil {
		return accountvault.TableInfo{}, wrap(ctx, "Inspect", err)
	}
	return st, nil
}

func (b *Backend) inspect(ctx context.Context) (accountvault.TableInfo, error) {
	st := accountvault.TableInfo{FoldCase: true}
	// SQLite compares table names ignoring ASCII case, as the backend does.
	err := b.db.QueryRowContext(ctx, `SELECT type FROM sqlite_schema
		WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')`, b.table).Scan(&st.Kind)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return accountvault.TableInfo{FoldCase: true}, nil
	case err != nil:
		return accountvault.TableInfo{}, fmt.Errorf("reading sqlite_schema: %w", err)
	}
	st.Exists = true
	rows, err := b.db.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, b.table)
	if err != nil {
		return accountvault.TableInfo{}, fmt.Errorf("reading the columns: %w", err)
	}
	defer rows.Close()
	st.Columns = map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return accountvault.TableInfo{}, fmt.Errorf("reading the columns: %w", err)
		}
		st.Columns[name] = typ
	}
	if err := rows.Err(); err != nil {
		return accountvault.TableInfo{}, fmt.Errorf("reading the columns: %w", err)
	}
	var n int
	if err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE`,
		sqlrow.SchemaTable).Scan(&n); err != nil {
		return accountvault.TableInfo{}, fmt.Errorf("reading sqlite_schema: %w", err)
	}
	if n == 0 {
		return st, nil
	}
	err = b.db.QueryRowContext(ctx, `SELECT version FROM `+sqlrow.SchemaTable+` WHERE table_name = ?`, b.table).Scan(&st.Version)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return accountvault.TableInfo{}, fmt.Errorf("reading %s: %w", sqlrow.SchemaTable, err)
	}
	return st, nil
}
