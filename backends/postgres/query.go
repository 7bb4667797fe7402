package postgres

import (
	"strconv"
	"strings"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// buildQueries returns the SQL text of every statement for the table t
// (quoted, with its schema). pgx prepares and caches them per connection.
func buildQueries(t, meta string) [sqlrow.NumStmts]string {
	ph := make([]string, sqlrow.NumColumns)
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	var q [sqlrow.NumStmts]string
	q[sqlrow.StmtUpsert] = `INSERT INTO ` + t + ` (` + sqlrow.Columns + `) VALUES (` + strings.Join(ph, ", ") + `)
		ON CONFLICT (provider_id, account_id) DO UPDATE SET
			user_id = EXCLUDED.user_id,
			access_token = EXCLUDED.access_token,
			refresh_token = EXCLUDED.refresh_token,
			id_token = EXCLUDED.id_token,
			access_token_expires_at = EXCLUDED.access_token_expires_at,
			refresh_token_expires_at = EXCLUDED.refresh_token_expires_at,
			scope = EXCLUDED.scope,
			password = EXCLUDED.password,
			updated_at = EXCLUDED.updated_at
		RETURNING ` + sqlrow.Columns
	q[sqlrow.StmtFindByProvider] = `SELECT ` + sqlrow.Columns + ` FROM ` + t + ` WHERE provider_id = $1 AND account_id = $2`
	// Byte order whatever the column's or the database's collation.
	q[sqlrow.StmtFindForUser] = `SELECT ` + sqlrow.Columns + ` FROM ` + t + ` WHERE user_id = $1 ORDER BY id COLLATE "C"`
	q[sqlrow.StmtUnlink] = `DELETE FROM ` + t + ` WHERE provider_id = $1 AND account_id = $2`
	q[sqlrow.StmtDeleteUser] = `DELETE FROM ` + t + ` WHERE user_id = $1`
	q[sqlrow.StmtCount] = `SELECT count(*) FROM ` + t
	q[sqlrow.StmtList] = `SELECT ` + sqlrow.Columns + ` FROM ` + t + `
		WHERE id COLLATE "C" > $1 ORDER BY id COLLATE "C" LIMIT $2`
	// Arguments: sqlrow.SwapArgs. An empty token or password is NULL when
	// we write it, but an adopted table may hold '': NULL compares as empty.
	q[sqlrow.StmtCompareAndSwap] = `UPDATE ` + t + ` SET
			access_token = $1, refresh_token = $2, id_token = $3,
			access_token_expires_at = $4, refresh_token_expires_at = $5, scope = $6,
			password = $7, updated_at = $8
		WHERE id = $9 AND user_id = $10 AND provider_id = $11 AND account_id = $12
			AND COALESCE(access_token, '\x'::bytea) = COALESCE($13::bytea, '\x'::bytea)
			AND COALESCE(refresh_token, '\x'::bytea) = COALESCE($14::bytea, '\x'::bytea)
			AND COALESCE(id_token, '\x'::bytea) = COALESCE($15::bytea, '\x'::bytea)
			AND COALESCE(password, '') = $16::text`
	q[sqlrow.StmtMetaGet] = `SELECT octet_length(value), CASE WHEN octet_length(value) <= ` + strconv.Itoa(accountvault.MaxMetaSize) + ` THEN value END FROM ` + meta + ` WHERE table_name = $1 AND name = $2`
	q[sqlrow.StmtMetaInsert] = `INSERT INTO ` + meta + ` (table_name, name, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
	q[sqlrow.StmtMetaUpdate] = `UPDATE ` + meta + ` SET value = $4 WHERE table_name = $1 AND name = $2 AND value = $3`
	q[sqlrow.StmtMetaDelete] = `DELETE FROM ` + meta + ` WHERE table_name = $1 AND name = $2 AND value = $3`
	return q
}
