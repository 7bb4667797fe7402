package password

import (
	"context"
	"fmt"

	"golang.org/x/sync/semaphore"
)

// limiter bounds the memory of concurrent hash computations: each one holds
// a weight equal to the KiB it needs, out of a fixed capacity.
type limiter struct {
	sem      *semaphore.Weighted
	capacity int64 // KiB
}

func newLimiter(capacityKiB int64) *limiter {
	return &limiter{sem: semaphore.NewWeighted(capacityKiB), capacity: capacityKiB}
}

// weight is what a computation needing kib KiB holds: at least 1, and at
// most the whole capacity, so that a hash asking for more than the capacity
// (possible when the bounds exceed it) still runs, alone.
func (l *limiter) weight(kib int64) int64 {
	return min(max(kib, 1), l.capacity)
}

// acquire waits until kib KiB are free, or ctx is done. A done ctx is
// returned wrapped (errors.Is(err, context.Canceled) holds), and nothing is
// held.
func (l *limiter) acquire(ctx context.Context, kib int64) (release func(), err error) {
	w := l.weight(kib)
	if err := l.sem.Acquire(ctx, w); err != nil {
		return nil, fmt.Errorf("password: waiting to hash: %w", err)
	}
	return func() { l.sem.Release(w) }, nil
}
