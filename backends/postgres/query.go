package postgres

import (
	"strconv"
	"strings"

	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// queries holds the SQL text of every statement, built once per table.
// pgx prepares and caches them per connection.
type queries struct {
	upsert, findByProvider, findForUser, unlink, list, cas, count string
}

func buildQueries(t string) queries {
	ph := make([]string, sqlrow.NumColumns)
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	return queries{
		upsert: `INSERT INTO ` + t + ` (` + sqlrow.Columns + `) VALUES (` + strings.Join(ph, ", ") + `)
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
			RETURNING ` + sqlrow.Columns,
		findByProvider: `SELECT ` + sqlrow.Columns + ` FROM ` + t + ` WHERE provider_id = $1 AND account_id = $2`,
		// Byte order whatever the column's or the database's collation.
		findForUser: `SELECT ` + sqlrow.Columns + ` FROM ` + t + ` WHERE user_id = $1 ORDER BY id COLLATE "C"`,
		unlink:      `DELETE FROM ` + t + ` WHERE provider_id = $1 AND account_id = $2`,
		count:       `SELECT count(*) FROM ` + t,
		list: `SELECT ` + sqlrow.Columns + ` FROM ` + t + `
			WHERE id COLLATE "C" > $1 ORDER BY id COLLATE "C" LIMIT $2`,
		// An empty token or password is NULL when we write it, but an
		// adopted table may hold '': NULL compares as empty.
		cas: `UPDATE ` + t + ` SET
				access_token = $1, refresh_token = $2, id_token = $3, password = $4, updated_at = $5
			WHERE id = $6 AND user_id = $7 AND provider_id = $8 AND account_id = $9
				AND COALESCE(access_token, '\x'::bytea) = COALESCE($10::bytea, '\x'::bytea)
				AND COALESCE(refresh_token, '\x'::bytea) = COALESCE($11::bytea, '\x'::bytea)
				AND COALESCE(id_token, '\x'::bytea) = COALESCE($12::bytea, '\x'::bytea)
				AND COALESCE(password, '') = $13::text`,
	}
}
