package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// Upsert implements [accountvault.Backend].
func (b *Backend) Upsert(ctx context.Context, a accountvault.Account) (accountvault.Account, error) {
	if err := a.Validate(); err != nil {
		return accountvault.Account{}, err
	}
	in := sqlrow.FromAccount(&a, time.Now())
	var out sqlrow.Row
	if err := b.retryStale(func() error {
		return b.pool.QueryRow(ctx, b.q.upsert, in.Args()...).Scan(out.Dest()...)
	}); err != nil {
		return accountvault.Account{}, wrap(ctx, "Upsert", err)
	}
	return out.Account(), nil
}

// FindByProvider implements [accountvault.Backend].
func (b *Backend) FindByProvider(ctx context.Context, providerID, accountID string) (accountvault.Account, error) {
	if !sqlrow.Storable(providerID) || !sqlrow.Storable(accountID) {
		return accountvault.Account{}, fmt.Errorf("postgres: FindByProvider: %w", accountvault.ErrNotFound)
	}
	var r sqlrow.Row
	err := b.retryStale(func() error {
		return b.pool.QueryRow(ctx, b.q.findByProvider, providerID, accountID).Scan(r.Dest()...)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return accountvault.Account{}, fmt.Errorf("postgres: FindByProvider: %w", accountvault.ErrNotFound)
	case err != nil:
		return accountvault.Account{}, wrap(ctx, "FindByProvider", err)
	}
	return r.Account(), nil
}

// FindForUser implements [accountvault.Backend].
func (b *Backend) FindForUser(ctx context.Context, userID string) ([]accountvault.Account, error) {
	if !sqlrow.Storable(userID) {
		return nil, nil
	}
	return b.query(ctx, "FindForUser", 0, b.q.findForUser, userID)
}

// Unlink implements [accountvault.Backend].
func (b *Backend) Unlink(ctx context.Context, providerID, accountID string) error {
	if !sqlrow.Storable(providerID) || !sqlrow.Storable(accountID) {
		return fmt.Errorf("postgres: Unlink: %w", accountvault.ErrNotFound)
	}
	var tag pgconn.CommandTag
	err := b.retryStale(func() (err error) {
		tag, err = b.pool.Exec(ctx, b.q.unlink, providerID, accountID)
		return err
	})
	if err != nil {
		return wrap(ctx, "Unlink", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: Unlink: %w", accountvault.ErrNotFound)
	}
	return nil
}

// List implements [accountvault.Backend]. IDs are compared in the "C"
// collation, that is as bytes. A limit that is not positive, or an after
// that is not valid UTF-8 without NUL bytes (no stored ID is), is a usage
// error and queries nothing.
func (b *Backend) List(ctx context.Context, after string, limit int) ([]accountvault.Account, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("postgres: List: %w", sqlrow.ErrBadLimit)
	}
	if !sqlrow.Storable(after) {
		return nil, fmt.Errorf("postgres: List: %w", sqlrow.ErrBadCursor)
	}
	return b.query(ctx, "List", limit, b.q.list, after, limit)
}

// CompareAndSwap implements [accountvault.Backend]. A NULL token or
// password equals an empty one.
func (b *Backend) CompareAndSwap(ctx context.Context, old, new accountvault.Account) error {
	if err := sqlrow.CheckSwap(&old, &new); err != nil {
		return err
	}
	if !sqlrow.Storable(old.Password.Reveal()) {
		// No stored password can equal it (and Postgres could not even
		// receive it as TEXT).
		return fmt.Errorf("postgres: CompareAndSwap: %w", accountvault.ErrConflict)
	}
	updatedAt := new.UpdatedAt.Unix()
	if new.UpdatedAt.IsZero() {
		updatedAt = time.Now().Unix()
	}
	args := []any{
		sqlrow.Blob(new.AccessToken), sqlrow.Blob(new.RefreshToken), sqlrow.Blob(new.IDToken),
		sqlrow.NullText(new.Password.Reveal()), updatedAt,
		old.ID, old.UserID, old.ProviderID, old.AccountID,
		sqlrow.Blob(old.AccessToken), sqlrow.Blob(old.RefreshToken), sqlrow.Blob(old.IDToken),
		old.Password.Reveal(),
	}
	var tag pgconn.CommandTag
	err := b.retryStale(func() (err error) {
		tag, err = b.pool.Exec(ctx, b.q.cas, args...)
		return err
	})
	if err != nil {
		return wrap(ctx, "CompareAndSwap", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: CompareAndSwap: %w", accountvault.ErrConflict)
	}
	return nil
}

// Count returns the number of rows in the table. The command-line tool
// uses it to estimate the remaining time of a walk over the table; it
// scans the table (or an index of it), so it is not meant for a hot path.
func (b *Backend) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := b.retryStale(func() error { return b.pool.QueryRow(ctx, b.q.count).Scan(&n) }); err != nil {
		return 0, wrap(ctx, "Count", err)
	}
	return n, nil
}

// query runs a SELECT of sqlrow.Columns and reads every row. sizeHint, if
// positive, bounds the initial allocation.
func (b *Backend) query(ctx context.Context, op string, sizeHint int, query string, args ...any) ([]accountvault.Account, error) {
	var out []accountvault.Account
	err := b.retryStale(func() error {
		out = nil
		if sizeHint > 0 {
			out = make([]accountvault.Account, 0, min(sizeHint, 256))
		}
		rows, err := b.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var r sqlrow.Row
		dest := r.Dest()
		for rows.Next() {
			r = sqlrow.Row{}
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			out = append(out, r.Account())
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}
