package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// notifyInterrupt returns a context that is done at the first SIGINT or
// SIGTERM. After that first signal the default handling is restored, so a
// second one kills the process at once.
func notifyInterrupt(stderr io.Writer) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			stop()
			if context.Cause(ctx) != context.Canceled {
				fmt.Fprintln(stderr, "accountvault: interrupted: stopping cleanly (interrupt again to kill at once)")
			}
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		stop()
	}
}

// batchContext returns the context to walk a table with: it is done only
// when stopNow is called, which the progress callback does between batches
// once c.sig is done. So a signal never interrupts a database call; the
// walk stops at its next batch boundary.
func (c *cli) batchContext() (ctx context.Context, stopAtBatch func(), cancel context.CancelFunc) {
	ctx, cancel = context.WithCancel(context.WithoutCancel(c.sig))
	return ctx, func() {
		if c.sig.Err() != nil {
			cancel()
		}
	}, cancel
}

// interrupted reports whether the run was interrupted by a signal.
func (c *cli) interrupted() bool { return c.sig.Err() != nil }
