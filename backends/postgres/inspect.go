package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/accountvault/accountvault"
)

// Inspect reads what the database's catalog says of the table: whether it
// exists and as what, its columns and their declared types (format_type's
// text: "text", "bytea", "timestamp with time zone"), and the schema
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
	var st accountvault.TableInfo
	var kind *string
	err := b.pool.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)`, b.qualified).Scan(&kind)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && kind == nil):
		return accountvault.TableInfo{}, nil
	case err != nil:
		return accountvault.TableInfo{}, fmt.Errorf("reading pg_class: %w", err)
	}
	st.Exists = true
	switch *kind {
	case "r", "p":
		st.Kind = "table"
	case "v", "m":
		st.Kind = "view"
	default:
		st.Kind = "relation of kind " + *kind
	}
	rows, err := b.pool.Query(ctx, `SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`, b.qualified)
	if err != nil {
		return accountvault.TableInfo{}, fmt.Errorf("reading the columns: %w", err)
	}
	st.Columns = map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return accountvault.TableInfo{}, fmt.Errorf("reading the columns: %w", err)
		}
		st.Columns[name] = typ
	}
	if err := rows.Err(); err != nil {
		return accountvault.TableInfo{}, fmt.Errorf("reading the columns: %w", err)
	}
	var hasVersions bool
	if err := b.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, b.schemaTable).Scan(&hasVersions); err != nil {
		return accountvault.TableInfo{}, fmt.Errorf("reading pg_class: %w", err)
	}
	if !hasVersions {
		return st, nil
	}
	err = b.pool.QueryRow(ctx, `SELECT version FROM `+b.schemaTable+` WHERE table_name = $1`, b.table).Scan(&st.Version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return accountvault.TableInfo{}, fmt.Errorf("reading the schema versions: %w", err)
	}
	return st, nil
}
