package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	if err := b.pool.QueryRow(ctx, b.q.upsert, in.Args()...).Scan(out.Dest()...); err != nil {
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
	err := b.pool.QueryRow(ctx, b.q.findByProvider, providerID, accountID).Scan(r.Dest()...)
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
	tag, err := b.pool.Exec(ctx, b.q.unlink, providerID, accountID)
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
	tag, err := b.pool.Exec(ctx, b.q.cas,
		sqlrow.Blob(new.AccessToken), sqlrow.Blob(new.RefreshToken), sqlrow.Blob(new.IDToken),
		sqlrow.NullText(new.Password.Reveal()), updatedAt,
		old.ID, old.UserID, old.ProviderID, old.AccountID,
		sqlrow.Blob(old.AccessToken), sqlrow.Blob(old.RefreshToken), sqlrow.Blob(old.IDToken),
		old.Password.Reveal(),
	)
	if err != nil {
		return wrap(ctx, "CompareAndSwap", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: CompareAndSwap: %w", accountvault.ErrConflict)
	}
	return nil
}

// query runs a SELECT of sqlrow.Columns and reads every row. sizeHint, if
// positive, bounds the initial allocation.
func (b *Backend) query(ctx context.Context, op string, sizeHint int, query string, args ...any) ([]accountvault.Account, error) {
	rows, err := b.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	defer rows.Close()
	var out []accountvault.Account
	if sizeHint > 0 {
		out = make([]accountvault.Account, 0, min(sizeHint, 256))
	}
	var r sqlrow.Row
	dest := r.Dest()
	for rows.Next() {
		r = sqlrow.Row{}
		if err := rows.Scan(dest...); err != nil {
			return nil, wrap(ctx, op, err)
		}
		out = append(out, r.Account())
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}
