package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

var errClosed = errors.New("sqlite: Backend is closed")

// stmt returns the prepared statement k, preparing it on first use: not
// before, as the table may not exist until Migrate has run. database/sql
// prepares it again on each pooled connection that runs it.
func (b *Backend) stmt(ctx context.Context, k sqlrow.Stmt) (*sql.Stmt, error) {
	if s := b.stmts[k].Load(); s != nil {
		return s, nil
	}
	// No caller holds a connection while it waits for mu, so preparing
	// under mu cannot deadlock a single-connection pool.
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	if s := b.stmts[k].Load(); s != nil {
		return s, nil
	}
	s, err := b.db.PrepareContext(ctx, b.sql[k])
	if err != nil {
		return nil, err
	}
	b.stmts[k].Store(s)
	return s, nil
}

// closeStmts closes the prepared statements; later calls fail with
// errClosed.
func (b *Backend) closeStmts() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	var errs []error
	for i := range b.stmts {
		if s := b.stmts[i].Swap(nil); s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

func buildQueries(table string) [sqlrow.NumStmts]string {
	t := sqlrow.Quote(table)
	placeholders := strings.TrimSuffix(strings.Repeat("?, ", sqlrow.NumColumns), ", ")
	var q [sqlrow.NumStmts]string
	q[sqlrow.StmtUpsert] = `INSERT INTO ` + t + ` (` + sqlrow.Columns + `) VALUES (` + placeholders + `)
		ON CONFLICT (provider_id, account_id) DO UPDATE SET
			user_id = excluded.user_id,
			access_token = excluded.access_token,
			refresh_token = excluded.refresh_token,
			id_token = excluded.id_token,
			access_token_expires_at = excluded.access_token_expires_at,
			refresh_token_expires_at = excluded.refresh_token_expires_at,
			scope = excluded.scope,
			password = excluded.password,
			updated_at = excluded.updated_at
		RETURNING ` + sqlrow.Columns
	q[sqlrow.StmtFindByProvider] = `SELECT ` + sqlrow.Columns + ` FROM ` + t + ` WHERE provider_id = ? AND account_id = ?`
	q[sqlrow.StmtFindForUser] = `SELECT ` + sqlrow.Columns + ` FROM ` + t + ` WHERE user_id = ? ORDER BY id`
	q[sqlrow.StmtUnlink] = `DELETE FROM ` + t + ` WHERE provider_id = ? AND account_id = ?`
	q[sqlrow.StmtDeleteUser] = `DELETE FROM ` + t + ` WHERE user_id = ?`
	// TEXT compares in the BINARY collation: byte order.
	q[sqlrow.StmtList] = `SELECT ` + sqlrow.Columns + ` FROM ` + t + ` WHERE id > ? ORDER BY id LIMIT ?`
	// Arguments: sqlrow.SwapArgs. An empty token is NULL when we write it,
	// but an adopted table may hold '' or a TEXT value: compare as BLOB,
	// NULL as empty.
	q[sqlrow.StmtCompareAndSwap] = `UPDATE ` + t + ` SET
			access_token = ?1, refresh_token = ?2, id_token = ?3,
			access_token_expires_at = ?4, refresh_token_expires_at = ?5, scope = ?6,
			password = ?7, updated_at = ?8
		WHERE id = ?9 AND user_id = ?10 AND provider_id = ?11 AND account_id = ?12
			AND CAST(COALESCE(access_token, X'') AS BLOB) = CAST(COALESCE(?13, X'') AS BLOB)
			AND CAST(COALESCE(refresh_token, X'') AS BLOB) = CAST(COALESCE(?14, X'') AS BLOB)
			AND CAST(COALESCE(id_token, X'') AS BLOB) = CAST(COALESCE(?15, X'') AS BLOB)
			AND COALESCE(password, '') = ?16`
	q[sqlrow.StmtCount] = `SELECT count(*) FROM ` + t
	meta := sqlrow.Quote(sqlrow.MetaTable)
	q[sqlrow.StmtMetaGet] = `SELECT length(CAST(value AS BLOB)), CASE WHEN length(CAST(value AS BLOB)) <= ` + strconv.Itoa(accountvault.MaxMetaSize) + ` THEN value END FROM ` + meta + ` WHERE table_name = ?1 AND name = ?2`
	q[sqlrow.StmtMetaInsert] = `INSERT INTO ` + meta + ` (table_name, name, value) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING`
	q[sqlrow.StmtMetaUpdate] = `UPDATE ` + meta + ` SET value = ?4 WHERE table_name = ?1 AND name = ?2 AND value = ?3`
	q[sqlrow.StmtMetaDelete] = `DELETE FROM ` + meta + ` WHERE table_name = ?1 AND name = ?2 AND value = ?3`
	return q
}
