package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaTable is the table in which the backends' Migrate records each
// accounts table's schema version.
const schemaTable = "accountvault_schema"

// schemaColumns are the columns of accountvault's accounts table, in the
// order of the backends' CREATE TABLE.
var schemaColumns = []string{
	"id", "user_id", "provider_id", "account_id",
	"access_token", "refresh_token", "id_token",
	"access_token_expires_at", "refresh_token_expires_at",
	"scope", "password", "created_at", "updated_at",
}

// tableState is what the database's catalog says of the accounts table.
// Reading it reads the catalog only, never a row of the table.
type tableState struct {
	// exists reports that the name is taken by a table or a view (kind
	// says which; Migrate refuses a view).
	exists bool
	kind   string
	// columns maps each column's name to its declared type: as written
	// in SQLite, format_type's text in Postgres ("text", "bytea",
	// "timestamp with time zone").
	columns map[string]string
	// version is the schema version accountvault_schema records for the
	// table, 0 if none.
	version int
	// foldCase reports that the database matches column names ignoring
	// ASCII case (SQLite).
	foldCase bool
}

// column returns the declared type of the column named name, matched as
// the database matches names, and whether the table has it.
func (t tableState) column(name string) (string, bool) {
	if typ, ok := t.columns[name]; ok || !t.foldCase {
		return typ, ok
	}
	for n, typ := range t.columns {
		if strings.EqualFold(n, name) {
			return typ, true
		}
	}
	return "", false
}

// sqliteInspector returns a function that reads the catalog of the SQLite
// database dbArg (a file path, ":memory:" or a "file:" URI, as --db takes
// it) for table. Each call opens its own read-only handle and closes it:
// it never creates the file.
func sqliteInspector(dbArg, table string) func(context.Context) (tableState, error) {
	return func(ctx context.Context) (st tableState, err error) {
		if dbArg == ":memory:" {
			return tableState{}, nil // a new in-memory database is empty
		}
		dsn, err := readOnlyDSN(dbArg)
		if err != nil {
			return tableState{}, err
		}
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return tableState{}, err
		}
		defer func() {
			if cerr := db.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}()
		return inspectSQLite(ctx, db, table)
	}
}

// readOnlyDSN returns a modernc.org/sqlite DSN that opens dbArg read-only
// (SQLITE_OPEN_READONLY through the URI's mode=ro: a missing file is an
// error, never created) and waits for locks.
func readOnlyDSN(dbArg string) (string, error) {
	const params = "_pragma=busy_timeout(5000)"
	if strings.HasPrefix(dbArg, "file:") {
		sep := "?"
		if strings.Contains(dbArg, "?") {
			sep = "&"
		}
		q := ""
		if i := strings.IndexByte(dbArg, '?'); i >= 0 {
			q = dbArg[i+1:]
		}
		if vals, err := url.ParseQuery(q); err != nil || !vals.Has("mode") {
			return dbArg + sep + "mode=ro&" + params, nil
		}
		return dbArg + sep + params, nil
	}
	abs, err := filepath.Abs(dbArg)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // a Windows drive letter
	}
	return "file://" + u.EscapedPath() + "?mode=ro&" + params, nil
}

func inspectSQLite(ctx context.Context, db *sql.DB, table string) (tableState, error) {
	st := tableState{foldCase: true}
	// SQLite compares table names ignoring ASCII case, as the backend does.
	err := db.QueryRowContext(ctx, `SELECT type FROM sqlite_master
		WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')`, table).Scan(&st.kind)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return tableState{}, nil
	case err != nil:
		return tableState{}, fmt.Errorf("reading sqlite_master: %w", err)
	}
	st.exists = true
	rows, err := db.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, table)
	if err != nil {
		return tableState{}, fmt.Errorf("reading the columns: %w", err)
	}
	defer rows.Close()
	st.columns = map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return tableState{}, fmt.Errorf("reading the columns: %w", err)
		}
		st.columns[name] = typ
	}
	if err := rows.Err(); err != nil {
		return tableState{}, fmt.Errorf("reading the columns: %w", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE`, schemaTable).Scan(&n); err != nil {
		return tableState{}, fmt.Errorf("reading sqlite_master: %w", err)
	}
	if n == 0 {
		return st, nil
	}
	err = db.QueryRowContext(ctx, `SELECT version FROM `+schemaTable+` WHERE table_name = ?`, table).Scan(&st.version)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return tableState{}, fmt.Errorf("reading %s: %w", schemaTable, err)
	}
	return st, nil
}

// postgresInspector returns a function that reads, through pool, the
// catalog of the table (a plain identifier, resolved on the search path
// as the backend resolves it).
func postgresInspector(pool *pgxpool.Pool, table string) func(context.Context) (tableState, error) {
	return func(ctx context.Context) (tableState, error) {
		return inspectPostgres(ctx, pool, table)
	}
}

func inspectPostgres(ctx context.Context, pool *pgxpool.Pool, table string) (tableState, error) {
	var st tableState
	qualified := pgx.Identifier{table}.Sanitize()
	var kind *string
	err := pool.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)`, qualified).Scan(&kind)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && kind == nil):
		return tableState{}, nil
	case err != nil:
		return tableState{}, fmt.Errorf("reading pg_class: %w", err)
	}
	st.exists = true
	switch *kind {
	case "r", "p":
		st.kind = "table"
	case "v", "m":
		st.kind = "view"
	default:
		st.kind = "relation of kind " + *kind
	}
	rows, err := pool.Query(ctx, `SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`, qualified)
	if err != nil {
		return tableState{}, fmt.Errorf("reading the columns: %w", err)
	}
	st.columns = map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			return tableState{}, fmt.Errorf("reading the columns: %w", err)
		}
		st.columns[name] = typ
	}
	if err := rows.Err(); err != nil {
		return tableState{}, fmt.Errorf("reading the columns: %w", err)
	}
	vt := pgx.Identifier{schemaTable}.Sanitize()
	var hasVersions bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, vt).Scan(&hasVersions); err != nil {
		return tableState{}, fmt.Errorf("reading pg_class: %w", err)
	}
	if !hasVersions {
		return st, nil
	}
	err = pool.QueryRow(ctx, `SELECT version FROM `+vt+` WHERE table_name = $1`, table).Scan(&st.version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return tableState{}, fmt.Errorf("reading %s: %w", schemaTable, err)
	}
	return st, nil
}
