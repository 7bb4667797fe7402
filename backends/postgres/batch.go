package postgres

import (
	"context"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

var (
	_ accountvault.BatchSwapper = (*Backend)(nil)
	_ sqlrow.BatchDB            = runner{}
)

// CompareAndSwapBatch implements [accountvault.BatchSwapper]: the swaps
// run as one UPDATE statement, which joins the table to the batch's
// values (passed as arrays) on id and compares each row with its old
// values as CompareAndSwap does, and which returns the ids of the rows it
// wrote. One statement is one transaction: it writes every matching row
// or, on an error, none. A row that a concurrent transaction changes
// while the statement waits for its lock is compared again as it now is
// (under READ COMMITTED) or makes the statement fail with a serialization
// failure, which is retried as CompareAndSwap's are (under REPEATABLE READ
// or SERIALIZABLE): either way it is never overwritten.
func (b *Backend) CompareAndSwapBatch(ctx context.Context, swaps []accountvault.Swap) ([]error, error) {
	return b.m.CompareAndSwapBatch(ctx, swaps)
}

// swapBatchSQL is the statement of SwapBatch for the table t: its 16
// parameters are arrays, one element per swap, in the order of
// sqlrow.SwapArgs.
func swapBatchSQL(t string) string {
	return `UPDATE ` + t + ` AS t SET
			access_token = v.access_token, refresh_token = v.refresh_token, id_token = v.id_token,
			access_token_expires_at = v.access_token_expires_at, refresh_token_expires_at = v.refresh_token_expires_at,
			scope = v.scope, password = v.password, updated_at = v.updated_at
		FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::bigint[],
				$9::text[], $10::text[], $11::text[], $12::text[], $13::bytea[], $14::bytea[], $15::bytea[], $16::text[])
			AS v(access_token, refresh_token, id_token, access_token_expires_at, refresh_token_expires_at,
				scope, password, updated_at, id, user_id, provider_id, account_id,
				old_access_token, old_refresh_token, old_id_token, old_password)
		WHERE t.id = v.id AND t.user_id = v.user_id AND t.provider_id = v.provider_id AND t.account_id = v.account_id
			AND COALESCE(t.access_token, '\x'::bytea) = COALESCE(v.old_access_token, '\x'::bytea)
			AND COALESCE(t.refresh_token, '\x'::bytea) = COALESCE(v.old_refresh_token, '\x'::bytea)
			AND COALESCE(t.id_token, '\x'::bytea) = COALESCE(v.old_id_token, '\x'::bytea)
			AND COALESCE(t.password, '') = v.old_password
		RETURNING t.id`
}

// SwapBatch implements sqlrow.BatchDB.
func (d runner) SwapBatch(ctx context.Context, args [][]any) ([]bool, error) {
	n := len(args)
	var (
		newAT, newRT, newIT, oldAT, oldRT, oldIT = make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n), make([][]byte, n)
		atExp, rtExp                             = make([]*int64, n), make([]*int64, n)
		scope, pw                                = make([]*string, n), make([]*string, n)
		updated                                  = make([]int64, n)
		id, uid, pid, aid, oldPW                 = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	)
	pos := make(map[string]int, n)
	for i, a := range args {
		newAT[i], newRT[i], newIT[i] = a[0].([]byte), a[1].([]byte), a[2].([]byte)
		atExp[i], rtExp[i] = a[3].(*int64), a[4].(*int64)
		scope[i], pw[i] = a[5].(*string), a[6].(*string)
		updated[i] = a[7].(int64)
		id[i], uid[i], pid[i], aid[i] = a[8].(string), a[9].(string), a[10].(string), a[11].(string)
		oldAT[i], oldRT[i], oldIT[i] = a[12].([]byte), a[13].([]byte), a[14].([]byte)
		oldPW[i] = a[15].(string)
		pos[id[i]] = i
	}
	rows, err := d.b.pool.Query(ctx, d.b.swapBatch,
		newAT, newRT, newIT, atExp, rtExp, scope, pw, updated,
		id, uid, pid, aid, oldAT, oldRT, oldIT, oldPW)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	matched := make([]bool, n)
	var got string
	for rows.Next() {
		if err := rows.Scan(&got); err != nil {
			return nil, err
		}
		if i, ok := pos[got]; ok {
			matched[i] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return matched, nil
}
