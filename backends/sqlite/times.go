package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// The epoch milliseconds ConvertTimes converts: the years 2000 to 2099.
// As seconds, these integers would be the years 31 970 to 131 971.
const (
	minMillis = 946_684_800_000   // 2000-01-01T00:00:00Z
	maxMillis = 4_102_444_799_999 // 2099-12-31T23:59:59.999Z
)

// convertTimeExpr converts the time value q (quoted) as ConvertTimes
// documents, or yields NULL.
func convertTimeExpr(q string) string {
	return `(CASE
		WHEN typeof(` + q + `) = 'integer' AND ` + q + ` BETWEEN ` + strconv.FormatInt(minMillis, 10) + ` AND ` + strconv.FormatInt(maxMillis, 10) +
		` THEN ` + q + ` / 1000
		WHEN typeof(` + q + `) = 'text' AND ` + isoDate(q) + ` THEN CAST(strftime('%s', ` + q + `) AS INTEGER)
		END)`
}

// needsConverting is the condition on the time value q (quoted) that
// ConvertTimes converts or refuses.
func needsConverting(q string) string {
	max := strconv.FormatInt(sqlrow.MaxEpochSeconds, 10)
	return `(typeof(` + q + `) NOT IN ('integer', 'null') OR (typeof(` + q + `) = 'integer' AND ` + q + ` NOT BETWEEN -` + max + ` AND ` + max + `))`
}

// ConvertTimes converts, in a table that Migrate or Adopt brought to
// [SchemaVersion], the times that are not epoch seconds, which the
// application the table was adopted from may have written since (SQLite
// stores any type in any column): the rows the Backend cannot read
// ([accountvault.ErrInvalidTime]). It is the operator's step, run by
// `accountvault migrate`. In the four time columns, a value is converted
// so:
//   - an INTEGER up to 1e11 in absolute value (the year 5138) is epoch
//     seconds, and is kept;
//   - an INTEGER from 946 684 800 000 to 4 102 444 799 999 is epoch
//     milliseconds of the years 2000 to 2099 (as seconds it would be a year
//     after 31 000), and becomes the second it falls in;
//   - a TEXT ISO-8601 date (better-auth's "2026-05-01T12:00:00.000Z",
//     SQLite's "2026-05-01 12:00:00", with or without an offset) becomes
//     the epoch second it falls in, read as UTC if it names no offset, as
//     Adopt converts;
//   - NULL is kept where the column allows it.
//
// Every other value is left as it is and returned as a
// *[accountvault.RowError] naming the row and column, wrapping
// ErrInvalidTime: converting it would be a guess. That is a REAL, a BLOB,
// a TEXT that is no ISO-8601 date, a NULL in created_at or updated_at,
// and an INTEGER above 1e11 in absolute value outside the milliseconds
// above, which may be seconds in the far future (the Backend reads and
// writes any integer: an application that stores such times should not
// run ConvertTimes, or should check what it lists). Integers written with
// digits as TEXT are stored as INTEGERs by the column's affinity. converted
// counts the values converted. It runs in one IMMEDIATE transaction; an
// error other than the refused rows means nothing was changed.
func (b *Backend) ConvertTimes(ctx context.Context) (converted int64, refused []*accountvault.RowError, err error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return 0, nil, errClosed
	}
	c, err := b.db.Conn(ctx)
	if err != nil {
		return 0, nil, wrap(ctx, "ConvertTimes", err)
	}
	defer func() {
		if cerr := c.Close(); cerr != nil {
			err = errors.Join(err, wrap(ctx, "ConvertTimes", cerr))
		}
	}()
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return 0, nil, wrap(ctx, "ConvertTimes", err)
	}
	converted, refused, err = b.convertTimes(ctx, c)
	if err == nil {
		_, err = c.ExecContext(context.WithoutCancel(ctx), "COMMIT")
	}
	if err != nil {
		err = wrap(ctx, "ConvertTimes", err)
		if _, rerr := c.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
			err = errors.Join(err, fmt.Errorf("sqlite: ConvertTimes: rollback: %w", rerr))
		}
		return 0, nil, err
	}
	return converted, refused, nil
}

func (b *Backend) convertTimes(ctx context.Context, c *sql.Conn) (int64, []*accountvault.RowError, error) {
	var version int
	err := c.QueryRowContext(ctx, `SELECT version FROM `+sqlrow.SchemaTable+` WHERE table_name = ?`, b.table).Scan(&version)
	if err != nil && !errors.Is(err, sql.ErrNoRows) && !(runner{}).NoTable(err) {
		return 0, nil, err
	}
	if version != SchemaVersion {
		return 0, nil, &TableError{Table: b.table, Reason: "is not in accountvault's schema: adopt it first (Backend.Adopt, `accountvault migrate`)"}
	}
	t := sqlrow.Quote(b.table)
	// A value is converted only to one the Backend reads: a date after
	// the year 5138 ('9999-12-31') is left and listed, like the rest.
	max := strconv.FormatInt(sqlrow.MaxEpochSeconds, 10)
	var converted int64
	for _, sc := range sqlrow.Schema {
		if sc.Kind != sqlrow.KindTime {
			continue
		}
		q := sqlrow.Quote(sc.Name)
		res, err := c.ExecContext(ctx, `UPDATE `+t+` SET `+q+` = `+convertTimeExpr(q)+`
			WHERE `+needsConverting(q)+` AND `+convertTimeExpr(q)+` BETWEEN -`+max+` AND `+max)
		if err != nil {
			return 0, nil, fmt.Errorf("converting %s: %w", sc.Name, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, nil, err
		}
		converted += n
	}
	var refused []*accountvault.RowError
	for _, sc := range sqlrow.Schema {
		if sc.Kind != sqlrow.KindTime {
			continue
		}
		q := sqlrow.Quote(sc.Name)
		cond := needsConverting(q)
		if sc.NotNull {
			cond += ` OR ` + q + ` IS NULL`
		}
		rows, err := c.QueryContext(ctx, `SELECT CAST(id AS TEXT), typeof(`+q+`) FROM `+t+` WHERE `+cond+` ORDER BY id LIMIT ?`,
			maxRefused-len(refused))
		if err != nil {
			return 0, nil, err
		}
		for rows.Next() {
			var id, typ string
			if err := rows.Scan(&id, &typ); err != nil {
				rows.Close()
				return 0, nil, err
			}
			why := "a " + typ + " value that is no ISO-8601 date"
			switch typ {
			case "integer":
				why = "an integer above 1e11 that is no epoch milliseconds of the years 2000 to 2099: seconds in the far future, or milliseconds? not converted"
			case "null":
				why = "NULL"
			}
			refused = append(refused, &accountvault.RowError{ID: id, Column: sc.Name,
				Err: fmt.Errorf("%w: it holds %s", accountvault.ErrInvalidTime, why)})
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return 0, nil, err
		}
	}
	return converted, refused, nil
}

// maxRefused bounds the rows ConvertTimes lists.
const maxRefused = 1000
