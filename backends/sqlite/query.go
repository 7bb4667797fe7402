package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// A stmtKind names one of the statements a Backend runs.
type stmtKind int

const (
	stmtUpsert stmtKind = iota
	stmtFindByProvider
	stmtFindForUser
	stmtUnlink
	stmtList
	stmtCompareAndSwap
	stmtCount
	numStmts
)

var errClosed = errors.New("sqlite: Backend is closed")

// stmt returns the prepared statement k, preparing it on first use: not
// before, as the table may not exist until Migrate has run. database/sql
// prepares it again on each pooled connection that runs it.
func (b *Backend) stmt(ctx context.Context, k stmtKind) (*sql.Stmt, error) {
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

func buildQueries(table string) [numStmts]string {
	t := sqlrow.Quote(table)
	placeholders := strings.TrimSuffix(strings.Repeat("?, ", sqlrow.NumColumns), ", ")
	var q [numStmts]string
	q[stmtUpsert] = `INSERT INTO ` + t + ` (` + sqlrow.Columns + `) VALUES (` + placeholders + `)
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
	q[stmtFindByProvider] = `SELECT ` + sqlrow.Columns + ` FROM ` + t + ` WHERE provider_id = ? AND account_id = ?`
	q[stmtFindForUser] = `SELECT ` + sqlrow.Columns + ` FROM ` + t + ` WHERE user_id = ? ORDER BY id`
	q[stmtUnlink] = `DELETE FROM ` + t + ` WHERE provider_id = ? AND account_id = ?`
	// TEXT compares in the BINARY collation: byte order.
	q[stmtList] = `SELECT ` + sqlrow.Columns + ` FROM ` + t + ` WHERE id > ? ORDER BY id LIMIT ?`
	// An empty token is NULL when we write it, but an adopted table may
	// hold '' or a TEXT value: compare as BLOB, NULL as empty.
	q[stmtCompareAndSwap] = `UPDATE ` + t + ` SET
			access_token = ?, refresh_token = ?, id_token = ?, password = ?, updated_at = ?
		WHERE id = ? AND user_id = ? AND provider_id = ? AND account_id = ?
			AND CAST(COALESCE(access_token, X'') AS BLOB) = CAST(COALESCE(?, X'') AS BLOB)
			AND CAST(COALESCE(refresh_token, X'') AS BLOB) = CAST(COALESCE(?, X'') AS BLOB)
			AND CAST(COALESCE(id_token, X'') AS BLOB) = CAST(COALESCE(?, X'') AS BLOB)
			AND COALESCE(password, '') = ?`
	q[stmtCount] = `SELECT count(*) FROM ` + t
	return q
}
