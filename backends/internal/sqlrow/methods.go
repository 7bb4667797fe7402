package sqlrow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/accountvault/accountvault"
)

// Stmt names one of the statements the SQL backends run. Each backend
// writes the text of every statement in its own dialect (placeholders,
// collations, casts); Methods runs them.
type Stmt int

const (
	// StmtUpsert inserts the 13 columns in Columns order, or updates the
	// row with the same (provider_id, account_id), and returns Columns.
	StmtUpsert Stmt = iota
	// StmtFindByProvider selects Columns by (provider_id, account_id).
	StmtFindByProvider
	// StmtFindForUser selects Columns by user_id, in id byte order.
	StmtFindForUser
	// StmtUnlink deletes by (provider_id, account_id).
	StmtUnlink
	// StmtDeleteUser deletes by user_id.
	StmtDeleteUser
	// StmtList selects Columns with id > $1 in byte order, LIMIT $2.
	StmtList
	// StmtCompareAndSwap takes SwapArgs.
	StmtCompareAndSwap
	// StmtCount counts the rows.
	StmtCount
	// StmtMetaGet selects the length in bytes of the value of ($1 table,
	// $2 name), and the value if that is at most accountvault.MaxMetaSize
	// (else NULL: it is never read into memory).
	StmtMetaGet
	// StmtMetaInsert inserts ($1 table, $2 name, $3 value) unless the
	// name is set.
	StmtMetaInsert
	// StmtMetaUpdate sets ($1 table, $2 name) to $4 where the value is $3.
	StmtMetaUpdate
	// StmtMetaDelete deletes ($1 table, $2 name) where the value is $3.
	StmtMetaDelete
	// NumStmts is the number of statements.
	NumStmts
)

// DB runs the statements of one backend: the only thing a backend's driver
// code has to provide. Errors are returned as the driver gave them; Methods
// wraps them.
type DB interface {
	// QueryRow runs s and scans its one row into dest. No row at all is
	// an error for which NoRows reports true.
	QueryRow(ctx context.Context, s Stmt, args []any, dest []any) error
	// Query runs s and, for each row, scans it into dest and calls row.
	Query(ctx context.Context, s Stmt, args []any, dest []any, row func()) error
	// Exec runs s and returns the number of rows it changed.
	Exec(ctx context.Context, s Stmt, args []any) (int64, error)
	// NoRows reports whether err means that QueryRow found no row.
	NoRows(err error) bool
	// NoTable reports whether err means that a table the statement names
	// does not exist.
	NoTable(err error) bool
}

// Methods implements accountvault.Backend over a DB: argument checks, the
// conversion of rows, and the mapping of outcomes to ErrNotFound,
// ErrConflict and ErrInvalidArgument are the same for every SQL backend.
type Methods struct {
	DB DB
	// Classify names the class of a driver error:
	// accountvault.ErrTransient, accountvault.ErrDatabaseSetup, or nil.
	Classify func(error) error
	// Retryable reports whether err means the statement failed without
	// effect and may simply run again: a serialization failure or a
	// deadlock (SQLSTATE 40001, 40P01), which serializable and
	// distributed engines return under contention. nil: never.
	Retryable func(error) bool
	Name      string // "sqlite", "postgres": the prefix of every error
	Table     string // the accounts table's name, the key of its metadata
	// LenientTimes scans the time columns as TimeValues, so that a row
	// holding something else than epoch seconds (SQLite's columns hold
	// any type) fails alone, as a *accountvault.RowError wrapping
	// accountvault.ErrInvalidTime, instead of failing the whole query.
	LenientTimes bool
}

func (m *Methods) wrap(ctx context.Context, op string, err error) error {
	if m.Retryable != nil && m.Retryable(err) {
		return Wrap(ctx, m.Name, op, err, serialization)
	}
	return Wrap(ctx, m.Name, op, err, m.Classify)
}

// serialization is the class of an error Retryable accepts.
func serialization(error) error {
	return errors.Join(accountvault.ErrSerialization, accountvault.ErrTransient)
}

func (m *Methods) errorf(op string, sentinel error) error {
	return fmt.Errorf("%s: %s: %w", m.Name, op, sentinel)
}

// Upsert implements accountvault.Backend.
func (m *Methods) Upsert(ctx context.Context, a accountvault.SealedRow) (accountvault.SealedRow, error) {
	if err := a.Validate(); err != nil {
		return accountvault.SealedRow{}, err
	}
	in := FromSealed(&a, time.Now())
	out := Row{lenient: m.LenientTimes}
	if err := m.retry(ctx, func() error { return m.DB.QueryRow(ctx, StmtUpsert, in.Args(), out.Dest()) }); err != nil {
		return accountvault.SealedRow{}, m.wrap(ctx, "Upsert", err)
	}
	if err := out.settle(); err != nil {
		// The write took effect; the row it returned cannot be read
		// (an update keeps created_at, which may be the bad value).
		return accountvault.SealedRow{}, fmt.Errorf("%s: Upsert: %w", m.Name, err)
	}
	return out.Sealed(), nil
}

// FindByProvider implements accountvault.Backend. A lookup by a value that
// no row can hold (see Storable) answers ErrNotFound without a query.
func (m *Methods) FindByProvider(ctx context.Context, providerID, accountID string) (accountvault.SealedRow, error) {
	if !Storable(providerID) || !Storable(accountID) {
		return accountvault.SealedRow{}, m.errorf("FindByProvider", accountvault.ErrNotFound)
	}
	// The argument and destination slices escape through the DB
	// interface: keeping their arrays beside the row makes the three one
	// allocation, where separate slices cost two more per call.
	q := new(struct {
		r    Row
		args [2]any
		dest [NumColumns]any
	})
	r := &q.r
	r.lenient = m.LenientTimes
	q.args = [2]any{providerID, accountID}
	r.destInto(&q.dest)
	err := m.retry(ctx, func() error { return m.DB.QueryRow(ctx, StmtFindByProvider, q.args[:], q.dest[:]) })
	switch {
	case err != nil && m.DB.NoRows(err):
		return accountvault.SealedRow{}, m.errorf("FindByProvider", accountvault.ErrNotFound)
	case err != nil:
		return accountvault.SealedRow{}, m.wrap(ctx, "FindByProvider", err)
	}
	if err := r.settle(); err != nil {
		return accountvault.SealedRow{}, fmt.Errorf("%s: FindByProvider: %w", m.Name, err)
	}
	return r.Sealed(), nil
}

// FindForUser implements accountvault.Backend.
func (m *Methods) FindForUser(ctx context.Context, userID string) ([]accountvault.SealedRow, error) {
	if !Storable(userID) {
		return nil, nil
	}
	return m.query(ctx, "FindForUser", 0, StmtFindForUser, userID)
}

// Unlink implements accountvault.Backend.
func (m *Methods) Unlink(ctx context.Context, providerID, accountID string) error {
	if !Storable(providerID) || !Storable(accountID) {
		return m.errorf("Unlink", accountvault.ErrNotFound)
	}
	n, err := m.exec(ctx, StmtUnlink, []any{providerID, accountID})
	if err != nil {
		return m.wrap(ctx, "Unlink", err)
	}
	if n == 0 {
		return m.errorf("Unlink", accountvault.ErrNotFound)
	}
	return nil
}

// DeleteUser implements accountvault.Backend: one DELETE statement, so one
// transaction.
func (m *Methods) DeleteUser(ctx context.Context, userID string) (int, error) {
	if userID == "" {
		return 0, fmt.Errorf("%s: DeleteUser: %w: empty user id", m.Name, accountvault.ErrInvalidArgument)
	}
	if !Storable(userID) {
		return 0, nil
	}
	n, err := m.exec(ctx, StmtDeleteUser, []any{userID})
	if err != nil {
		return 0, m.wrap(ctx, "DeleteUser", err)
	}
	return int(n), nil
}

// List implements accountvault.Backend. A limit that is not positive, or an
// after that is not valid UTF-8 without NUL bytes (no stored ID is), is a
// usage error and queries nothing.
func (m *Methods) List(ctx context.Context, after string, limit int) ([]accountvault.SealedRow, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%s: List: %w", m.Name, ErrBadLimit)
	}
	if !Storable(after) {
		return nil, fmt.Errorf("%s: List: %w", m.Name, ErrBadCursor)
	}
	return m.query(ctx, "List", limit, StmtList, after, limit)
}

// CompareAndSwap implements accountvault.Backend. Token columns are
// compared as bytes, and a NULL token or password equals an empty one.
// The statement's arguments are SwapArgs.
func (m *Methods) CompareAndSwap(ctx context.Context, old, new accountvault.SealedRow) error {
	if err := CheckSwap(&old, &new); err != nil {
		return err
	}
	if !Storable(old.Password.Reveal()) {
		// No stored password can equal it (and Postgres could not even
		// receive it as TEXT).
		return m.errorf("CompareAndSwap", accountvault.ErrConflict)
	}
	n, err := m.exec(ctx, StmtCompareAndSwap, SwapArgs(&old, &new, time.Now()))
	if err != nil {
		return m.wrap(ctx, "CompareAndSwap", err)
	}
	if n == 0 {
		return m.errorf("CompareAndSwap", accountvault.ErrConflict)
	}
	return nil
}

// SwapArgs returns the arguments of StmtCompareAndSwap, in order: the new
// access_token, refresh_token, id_token, access_token_expires_at,
// refresh_token_expires_at, scope, password and updated_at ($1 to $8);
// then the old id, user_id, provider_id, account_id ($9 to $12); then the
// old access_token, refresh_token, id_token ($13 to $15, compared as bytes,
// NULL as empty) and the old password ($16, text, NULL as empty).
func SwapArgs(old, new *accountvault.SealedRow, now time.Time) []any {
	w := FromSealed(new, now)
	if new.UpdatedAt.IsZero() {
		w.UpdatedAt = now.Unix()
	}
	return []any{
		w.AccessToken, w.RefreshToken, w.IDToken,
		w.AccessTokenExpiresAt, w.RefreshTokenExpiresAt, w.Scope, w.Password, w.UpdatedAt,
		old.ID, old.UserID, old.ProviderID, old.AccountID,
		Blob(old.AccessToken), Blob(old.RefreshToken), Blob(old.IDToken),
		old.Password.Reveal(),
	}
}

// Count returns the number of rows in the table.
func (m *Methods) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := m.retry(ctx, func() error { return m.DB.QueryRow(ctx, StmtCount, nil, []any{&n}) }); err != nil {
		return 0, m.wrap(ctx, "Count", err)
	}
	return n, nil
}

// query runs the SELECT s of Columns and reads every row. sizeHint, if
// positive, bounds the initial allocation. Rows that settle refuses are
// left out, and returned as an error joining their *RowErrors.
func (m *Methods) query(ctx context.Context, op string, sizeHint int, s Stmt, args ...any) ([]accountvault.SealedRow, error) {
	var out []accountvault.SealedRow
	if sizeHint > 0 {
		out = make([]accountvault.SealedRow, 0, min(sizeHint, 256))
	}
	var bad []error
	r := Row{lenient: m.LenientTimes}
	dest := r.Dest()
	err := m.retry(ctx, func() error {
		out, bad = out[:0], bad[:0] // a retried query reads every row again
		return m.DB.Query(ctx, s, args, dest, func() {
			if err := r.settle(); err != nil {
				bad = append(bad, err)
			} else {
				out = append(out, r.Sealed())
			}
			r = Row{lenient: m.LenientTimes}
		})
	})
	if err != nil {
		return nil, m.wrap(ctx, op, err)
	}
	return out, errors.Join(bad...)
}

// Meta implements accountvault.Metadata.
func (m *Methods) Meta(ctx context.Context, name string) ([]byte, error) {
	var (
		n sql.NullInt64
		v []byte
	)
	err := m.retry(ctx, func() error { return m.DB.QueryRow(ctx, StmtMetaGet, []any{m.Table, name}, []any{&n, &v}) })
	switch {
	case err != nil && (m.DB.NoRows(err) || m.DB.NoTable(err)):
		// No metadata table: neither Migrate nor Adopt has run since
		// accountvault kept metadata, so nothing is set.
		return nil, fmt.Errorf("%s: Meta %q: %w", m.Name, name, accountvault.ErrNotFound)
	case err != nil:
		return nil, m.wrap(ctx, "Meta", err)
	case n.Int64 > accountvault.MaxMetaSize:
		return nil, fmt.Errorf("%s: Meta %q: %w: %d bytes", m.Name, name, accountvault.ErrMetaTooLarge, n.Int64)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// SwapMeta implements accountvault.Metadata.
func (m *Methods) SwapMeta(ctx context.Context, name string, old, new []byte) error {
	if name == "" || !Storable(name) || len(name) > 64 {
		return fmt.Errorf("%s: SwapMeta: %w: bad name", m.Name, accountvault.ErrInvalidArgument)
	}
	if len(new) > accountvault.MaxMetaSize {
		return fmt.Errorf("%s: SwapMeta %q: %w: value exceeds %d bytes", m.Name, name, accountvault.ErrInvalidArgument, accountvault.MaxMetaSize)
	}
	var (
		s    Stmt
		args []any
	)
	switch {
	case old == nil && new == nil:
		if _, err := m.Meta(ctx, name); err == nil {
			return m.errorf("SwapMeta", accountvault.ErrConflict)
		} else if !errors.Is(err, accountvault.ErrNotFound) {
			return err
		}
		return nil
	case old == nil:
		s, args = StmtMetaInsert, []any{m.Table, name, new}
	case new == nil:
		s, args = StmtMetaDelete, []any{m.Table, name, old}
	default:
		s, args = StmtMetaUpdate, []any{m.Table, name, old, new}
	}
	n, err := m.exec(ctx, s, args)
	if err != nil {
		return m.wrap(ctx, "SwapMeta", err)
	}
	if n == 0 {
		return m.errorf("SwapMeta", accountvault.ErrConflict)
	}
	return nil
}

// CreateMetaTable is the statement that creates MetaTable (quoted as
// given), in either dialect: blob is the binary type's name.
func CreateMetaTable(qualified, blob string) string {
	return `CREATE TABLE IF NOT EXISTS ` + qualified + ` (
		table_name TEXT NOT NULL,
		name TEXT NOT NULL,
		value ` + blob + ` NOT NULL,
		PRIMARY KEY (table_name, name)
	)`
}

// maxAttempts bounds how often a statement runs when it keeps failing
// with a retryable error, and maxBackoff the wait between two attempts:
// at most about 1.6 s of waiting in all (0.8 s expected), which outlasts
// the serialization failures that SERIALIZABLE raises under contention
// (Postgres's predicate locks cover index and heap pages, so transactions
// on neighbouring rows conflict too). Six attempts within 100 ms, as
// before, let reads and compare-and-swaps fail under the multi-replica
// rotation test with every transaction serializable.
const (
	maxAttempts = 12
	maxBackoff  = 250 * time.Millisecond
)

// retry runs f, and runs it again, after a short randomised backoff, while
// it fails with an error m.Retryable accepts, at most maxAttempts times in
// all and never after ctx is done. Such an error means the statement had
// no effect, so running it again never applies a write twice.
func (m *Methods) retry(ctx context.Context, f func() error) error {
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || m.Retryable == nil || !m.Retryable(err) || attempt == maxAttempts {
			return err
		}
		// Full jitter: a random wait up to the backoff, which doubles.
		wait := time.Duration(rand.Int64N(int64(backoff)) + 1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// exec runs an Exec statement under retry.
func (m *Methods) exec(ctx context.Context, s Stmt, args []any) (int64, error) {
	var n int64
	err := m.retry(ctx, func() (err error) {
		n, err = m.DB.Exec(ctx, s, args)
		return err
	})
	return n, err
}
