package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

var (
	_ accountvault.BatchSwapper = (*Backend)(nil)
	_ sqlrow.BatchDB            = runner{}
)

// CompareAndSwapBatch implements [accountvault.BatchSwapper]: the swaps
// run as CompareAndSwap's statement, one after the other, in one
// transaction, which holds the database's write lock until it commits
// (other writers wait for it, up to their busy timeout). On an error the
// transaction is rolled back and nothing is written.
func (b *Backend) CompareAndSwapBatch(ctx context.Context, swaps []accountvault.Swap) ([]error, error) {
	return b.m.CompareAndSwapBatch(ctx, swaps)
}

// SwapBatch implements sqlrow.BatchDB.
func (d runner) SwapBatch(ctx context.Context, args [][]any) (matched []bool, err error) {
	st, err := d.b.stmt(ctx, sqlrow.StmtCompareAndSwap)
	if err != nil {
		return nil, err
	}
	tx, err := d.b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	txst := tx.StmtContext(ctx, st)
	defer txst.Close()
	matched = make([]bool, len(args))
	for i, a := range args {
		res, err := txst.ExecContext(ctx, a...)
		if err != nil {
			return nil, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, err
		}
		matched[i] = n == 1
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return matched, nil
}
