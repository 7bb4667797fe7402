package sqlrow

import (
	"context"
	"fmt"
	"time"

	"github.com/accountvault/accountvault"
)

// BatchDB is implemented by a DB that can run many StmtCompareAndSwap at
// once.
type BatchDB interface {
	// SwapBatch runs StmtCompareAndSwap once with each element of args
	// (each a SwapArgs, no two naming the same row), atomically, and
	// returns for each whether it matched its row and so wrote it. On an
	// error nothing was written.
	SwapBatch(ctx context.Context, args [][]any) (matched []bool, err error)
}

// CompareAndSwapBatch implements accountvault.BatchSwapper over a DB that
// implements BatchDB. The checks CompareAndSwap makes are made per swap,
// before any SQL runs: a swap that fails them is refused alone, and the
// others run as one batch, retried as a whole after a serialization
// failure (which leaves no write behind).
func (m *Methods) CompareAndSwapBatch(ctx context.Context, swaps []accountvault.Swap) ([]error, error) {
	const op = "CompareAndSwapBatch"
	bdb, ok := m.DB.(BatchDB)
	if !ok {
		return nil, fmt.Errorf("%s: %s: %w: the driver runs no batches", m.Name, op, accountvault.ErrInvalidArgument)
	}
	if len(swaps) > accountvault.MaxSwapBatch {
		return nil, fmt.Errorf("%s: %s: %w: %d swaps, more than %d", m.Name, op, accountvault.ErrInvalidArgument, len(swaps), accountvault.MaxSwapBatch)
	}
	results := make([]error, len(swaps))
	if len(swaps) == 0 {
		return results, nil
	}
	seen := make(map[string]struct{}, len(swaps))
	args := make([][]any, 0, len(swaps))
	index := make([]int, 0, len(swaps)) // swaps[index[j]] runs with args[j]
	now := time.Now()
	for i := range swaps {
		s := &swaps[i]
		if err := CheckSwap(&s.Old, &s.New); err != nil {
			results[i] = fmt.Errorf("%s: %s: swap %d: %w", m.Name, op, i, err)
			continue
		}
		if _, dup := seen[s.Old.ID]; dup {
			results[i] = fmt.Errorf("%s: %s: swap %d: %w: an earlier swap of the batch names the same row", m.Name, op, i, accountvault.ErrInvalidArgument)
			continue
		}
		if !Storable(s.Old.Password.Reveal()) {
			results[i] = m.errorf(op, accountvault.ErrConflict) // as CompareAndSwap
			continue
		}
		seen[s.Old.ID] = struct{}{}
		args = append(args, SwapArgs(&s.Old, &s.New, now))
		index = append(index, i)
	}
	if len(args) == 0 {
		return results, nil
	}
	var matched []bool
	err := m.retry(ctx, func() (err error) {
		matched, err = bdb.SwapBatch(ctx, args)
		return err
	})
	if err != nil {
		return nil, m.wrap(ctx, op, err)
	}
	if len(matched) != len(args) {
		return nil, fmt.Errorf("%s: %s: the driver reported %d outcomes for %d swaps", m.Name, op, len(matched), len(args))
	}
	for j, i := range index {
		if !matched[j] {
			results[i] = m.errorf(op, accountvault.ErrConflict)
		}
	}
	return results, nil
}
