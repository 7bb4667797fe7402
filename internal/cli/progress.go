package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/accountvault/accountvault/store"
)

// progress reports a walk over a table on stderr: a progress bar with rate
// and ETA on a terminal, plain lines at most every --progress-interval
// otherwise (logs, CI, cron).
type progress struct {
	c        *cli
	line     func(store.Progress) string
	bar      *progressbar.ProgressBar // nil when stderr is not a terminal
	interval time.Duration
	last     time.Time

	// afterBatch, if set, runs after every batch (to stop between
	// batches once interrupted).
	afterBatch func()

	seen int // rows seen so far
}

// newProgress returns a reporter for a walk over total rows (-1 if
// unknown). line formats a plain progress line.
func (c *cli) newProgress(label string, total int, line func(store.Progress) string) *progress {
	p := &progress{c: c, line: line, interval: c.progressInterval, last: time.Now()}
	if f, ok := c.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(c.stderr),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(total > 0),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
	}
	return p
}

// update is a store.WalkOptions.Progress callback.
func (p *progress) update(pr store.Progress) {
	p.seen = pr.Seen
	if p.bar != nil {
		if max := p.bar.GetMax(); max >= 0 && pr.Seen > max {
			p.bar.ChangeMax(pr.Seen) // rows inserted since the count
		}
		// A terminal that cannot be written to is no reason to stop.
		if err := p.bar.Set(pr.Seen); err != nil {
			p.bar = nil
		}
	} else if now := time.Now(); now.Sub(p.last) >= p.interval {
		p.last = now
		fmt.Fprintln(p.c.stderr, p.line(pr))
	}
	if p.afterBatch != nil {
		p.afterBatch()
	}
}

// finish removes the bar; the command prints its summary next.
func (p *progress) finish() {
	if p.bar != nil {
		if err := p.bar.Finish(); err != nil {
			p.bar = nil
		}
	}
}
