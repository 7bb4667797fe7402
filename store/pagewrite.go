package store

import (
	"context"
	"errors"

	"github.com/accountvault/accountvault"
)

// A pageWriter holds the compare-and-swaps of one page of a walk (Rewrap,
// EncryptLegacy) and writes them when the page ends: in one
// [accountvault.BatchSwapper.CompareAndSwapBatch] where the backend has
// it, else one CompareAndSwap per row. Either way each row keeps
// CompareAndSwap's semantics: a row a concurrent write changed first is a
// conflict, never overwritten.
type pageWriter struct {
	b     accountvault.Backend
	batch accountvault.BatchSwapper // nil: one CompareAndSwap per row
	swaps []accountvault.Swap
	tags  []tally // the caller's counts for each swap, given back to done
	// done receives the outcome of each swap that ran: nil (written),
	// an error wrapping ErrConflict (a concurrent write won), or the
	// row's own error (its swap was refused, as invalid).
	done func(s *accountvault.Swap, t tally, err error)
}

// tally is what a walk counts for a row once its swap is written.
type tally struct {
	sealed     int // values sealed
	betterAuth int // of those, opened from better-auth ciphertext
}

func newPageWriter(b accountvault.Backend, done func(s *accountvault.Swap, t tally, err error)) *pageWriter {
	w := &pageWriter{b: b, done: done}
	w.batch, _ = b.(accountvault.BatchSwapper)
	return w
}

// add queues writing new over old.
func (w *pageWriter) add(old, new accountvault.SealedRow, t tally) {
	w.swaps = append(w.swaps, accountvault.Swap{Old: old, New: new})
	w.tags = append(w.tags, t)
}

// flush writes the queued swaps and reports each outcome to done. An
// error it returns stops the walk: the batch as a whole failed (and wrote
// nothing) other than by a serialization failure, or a row's CompareAndSwap failed
// otherwise than by a conflict or an invalid row (the rows before it are
// reported).
func (w *pageWriter) flush(ctx context.Context) error {
	defer func() {
		clear(w.swaps) // drop the page's token bytes
		w.swaps, w.tags = w.swaps[:0], w.tags[:0]
	}()
	if len(w.swaps) == 0 {
		return nil
	}
	// A page may hold more swaps than one batch takes (BatchSize is the
	// caller's): it is written in batches of at most MaxSwapBatch.
	for lo := 0; lo < len(w.swaps); lo += accountvault.MaxSwapBatch {
		hi := min(lo+accountvault.MaxSwapBatch, len(w.swaps))
		if err := w.write(ctx, w.swaps[lo:hi], w.tags[lo:hi]); err != nil {
			return err
		}
	}
	return nil
}

// write writes swaps (at most MaxSwapBatch), whose tallies are tags, and
// reports each outcome to done.
func (w *pageWriter) write(ctx context.Context, swaps []accountvault.Swap, tags []tally) error {
	if w.batch != nil {
		res, err := w.batch.CompareAndSwapBatch(ctx, swaps)
		switch {
		case err == nil:
			for i := range swaps {
				w.done(&swaps[i], tags[i], res[i])
			}
			return nil
		case !errors.Is(err, accountvault.ErrSerialization) || ctx.Err() != nil:
			return err
		}
		// The batch failed as a whole, and wrote nothing, because it
		// could not be serialized with concurrent transactions through
		// the backend's retries (SERIALIZABLE, contention on some of the
		// page's rows): the page's rows are written one by one, each
		// compared and retried on its own.
	}
	for i := range swaps {
		s := &swaps[i]
		err := w.b.CompareAndSwap(ctx, s.Old, s.New)
		if err != nil && !rowOutcome(err) {
			return err
		}
		w.done(s, tags[i], err)
	}
	return nil
}

// rowOutcome reports whether err, from a compare-and-swap, is the outcome
// of its row rather than a failure of the database.
func rowOutcome(err error) bool {
	return errors.Is(err, accountvault.ErrConflict) || errors.Is(err, accountvault.ErrInvalidAccount) ||
		errors.Is(err, accountvault.ErrInvalidArgument)
}
