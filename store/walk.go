package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/accountvault/accountvault"
)

// DefaultBatchSize is the number of rows Rewrap, Check and EncryptLegacy
// read per page when their options leave it zero.
const DefaultBatchSize = 500

// MaxReportedFailures bounds how many failing rows a report lists by id;
// the counts are always complete.
const MaxReportedFailures = 1000

// Progress is reported after every batch of a walk over the table.
type Progress struct {
	Seen      int           // rows read
	Rewritten int           // rows written (rewrapped, or sealed by EncryptLegacy)
	Skipped   int           // rows that needed nothing
	Conflicts int           // rows a concurrent write changed first (it wins; see below)
	Failed    int           // rows that could not be processed (see Failures)
	Cursor    string        // the last row id seen: WalkOptions.After resumes after it
	Elapsed   time.Duration // since the walk started
}

// RowsPerSecond is the walk's rate so far.
func (p Progress) RowsPerSecond() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Seen) / p.Elapsed.Seconds()
}

// WalkOptions configure the walks of an [Admin] over the table.
type WalkOptions struct {
	// BatchSize is the number of rows read per page (default DefaultBatchSize).
	// Memory use is bounded by it, whatever the size of the table.
	BatchSize int
	// After resumes the walk after this row id ("" starts at the beginning).
	// A walk stopped at any point is also safe to simply run again.
	After string
	// Until ends the walk at this row id, included ("" walks to the end).
	// An Until that sorts before After is an error wrapping
	// accountvault.ErrInvalidArgument.
	// After and Until bound a range of ids (byte order), so that several
	// walkers (processes or goroutines) can share a table: give walker i
	// After b[i] and Until b[i+1], with b[0] = "" and the last Until "",
	// and every row falls in exactly one range. Choose the boundaries from
	// the ids' distribution: for random ids (better-auth's, UUIDs) a split
	// on their leading characters; otherwise ids read at even offsets, as
	// `SELECT id FROM accounts ORDER BY id COLLATE "C" OFFSET k LIMIT 1`
	// gives them. A range walk is resumed as a whole one is, from its
	// Progress.Cursor, with the same Until.
	Until string
	// Progress, if set, is called after every batch, from the walking goroutine.
	Progress func(Progress)
}

func (o WalkOptions) batch() int {
	if o.BatchSize <= 0 {
		return DefaultBatchSize
	}
	return o.BatchSize
}

// walk pages through the raw (sealed) rows of the table in id order, from
// o.After to o.Until, and calls fn for each. It stops at the first error fn
// returns, or when ctx is done between batches. A row the backend cannot
// read (a time that is not epoch seconds) counts as seen and failed, and is
// added to failures; if failures is nil, such a row stops the walk with its
// *RowError, for the walks that must not go past a row they cannot see.
func (a *Admin) walk(ctx context.Context, o WalkOptions, p *Progress, failures *[]*accountvault.RowError, fn func(raw *accountvault.SealedRow) error) error {
	return a.walkWrites(ctx, o, p, failures, nil, fn)
}

// walkWrites is walk for a walk that writes: fn queues its writes in w,
// which writes each page's at the end of the page, before the page's
// progress. The cursor then moves a page at a time, past written rows
// only: an error stops the walk with the cursor at the end of the last
// page written.
func (a *Admin) walkWrites(ctx context.Context, o WalkOptions, p *Progress, failures *[]*accountvault.RowError, w *pageWriter, fn func(raw *accountvault.SealedRow) error) error {
	if o.Until != "" && o.Until < o.After {
		// No row is in the range: a walk over it would report success
		// having seen nothing.
		return fmt.Errorf("store: walking (%q, %q]: %w: Until sorts before After", o.After, o.Until, accountvault.ErrInvalidArgument)
	}
	start := time.Now()
	p.Cursor = o.After
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows, err := a.s.b.List(ctx, p.Cursor, o.batch())
		unread, partial := accountvault.RowErrors(err)
		if err != nil && (!partial || failures == nil) {
			return fmt.Errorf("store: reading rows after %q: %w", p.Cursor, err)
		}
		if err := inOrder(p.Cursor, rows, unread); err != nil {
			return err
		}
		end := len(rows) == 0 && len(unread) == 0
		if o.Until != "" {
			// The first id after Until ends the walk: it and every later
			// one are outside the range.
			if i := upTo(len(rows), func(i int) string { return rows[i].ID }, o.Until); i < len(rows) {
				rows, end = rows[:i], true
			}
			if j := upTo(len(unread), func(j int) string { return unread[j].ID }, o.Until); j < len(unread) {
				unread, end = unread[:j], true
			}
		}
		// Both lists are in id order: merge them.
		last := ""
		for i, j := 0, 0; i < len(rows) || j < len(unread); {
			p.Seen++
			if j < len(unread) && (i == len(rows) || unread[j].ID < rows[i].ID) {
				p.Failed++
				addFailure(failures, unread[j])
				last = unread[j].ID
				j++
			} else {
				if err := fn(&rows[i]); err != nil {
					return err
				}
				last = rows[i].ID
				i++
			}
			if w == nil {
				p.Cursor = last
			}
		}
		if last != "" {
			if w != nil {
				if err := w.flush(ctx); err != nil {
					return err
				}
				p.Cursor = last
			}
			p.Elapsed = time.Since(start)
			if o.Progress != nil {
				o.Progress(*p)
			}
		}
		if end {
			return nil
		}
	}
}

// inOrder returns a *accountvault.RowError wrapping
// accountvault.ErrInvalidAccount, naming the row, if the ids of a page
// listed after cursor are not each after it and in ascending byte order.
// A walk would otherwise page through the same rows again and again: in
// SQLite a database writer can store an id as a BLOB, which sorts after
// every TEXT id whatever its bytes.
func inOrder(cursor string, rows []accountvault.SealedRow, unread []*accountvault.RowError) error {
	check := func(n int, id func(int) string) error {
		prev := cursor
		for i := range n {
			if id(i) <= prev {
				return &accountvault.RowError{ID: id(i), Column: "id", Err: fmt.Errorf(
					"%w: listed out of id order, after %q (an id that is not text?)", accountvault.ErrInvalidAccount, prev)}
			}
			prev = id(i)
		}
		return nil
	}
	if err := check(len(rows), func(i int) string { return rows[i].ID }); err != nil {
		return err
	}
	return check(len(unread), func(i int) string { return unread[i].ID })
}

// upTo returns the number of the n ids in ascending order (id(i) for i
// below n) that are at most until.
func upTo(n int, id func(int) string, until string) int {
	i, found := sort.Find(n, func(i int) int { return strings.Compare(until, id(i)) })
	if found {
		i++
	}
	return i
}

// addFailure appends err to list, as a *accountvault.RowError, unless the
// list holds MaxReportedFailures already.
func addFailure(list *[]*accountvault.RowError, err error) {
	if len(*list) >= MaxReportedFailures {
		return
	}
	var re *accountvault.RowError
	if errors.As(err, &re) {
		*list = append(*list, re)
		return
	}
	*list = append(*list, &accountvault.RowError{Err: err})
}
