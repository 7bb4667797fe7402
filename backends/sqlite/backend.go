package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// Upsert implements [accountvault.Backend].
func (b *Backend) Upsert(ctx context.Context, a accountvault.Account) (accountvault.Account, error) {
	if err := a.Validate(); err != nil {
		return accountvault.Account{}, err
	}
	in := sqlrow.FromAccount(&a, time.Now())
	st, err := b.stmt(ctx, stmtUpsert)
	if err != nil {
		return accountvault.Account{}, wrap(ctx, "Upsert", err)
	}
	var out sqlrow.Row
	if err := st.QueryRowContext(ctx, in.Args()...).Scan(out.Dest()...); err != nil {
		return accountvault.Account{}, wrap(ctx, "Upsert", err)
	}
	return out.Account(), nil
}

// FindByProvider implements [accountvault.Backend].
func (b *Backend) FindByProvider(ctx context.Context, providerID, accountID string) (accountvault.Account, error) {
	if !sqlrow.Storable(providerID) || !sqlrow.Storable(accountID) {
		return accountvault.Account{}, fmt.Errorf("sqlite: FindByProvider: %w", accountvault.ErrNotFound)
	}
	st, err := b.stmt(ctx, stmtFindByProvider)
	if err != nil {
		return accountvault.Account{}, wrap(ctx, "FindByProvider", err)
	}
	var r sqlrow.Row
	err = st.QueryRowContext(ctx, providerID, accountID).Scan(r.Dest()...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return accountvault.Account{}, fmt.Errorf("sqlite: FindByProvider: %w", accountvault.ErrNotFound)
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
	return b.query(ctx, "FindForUser", 0, stmtFindForUser, userID)
}

// Unlink implements [accountvault.Backend].
func (b *Backend) Unlink(ctx context.Context, providerID, accountID string) error {
	if !sqlrow.Storable(providerID) || !sqlrow.Storable(accountID) {
		return fmt.Errorf("sqlite: Unlink: %w", accountvault.ErrNotFound)
	}
	st, err := b.stmt(ctx, stmtUnlink)
	if err != nil {
		return wrap(ctx, "Unlink", err)
	}
	res, err := st.ExecContext(ctx, providerID, accountID)
	if err != nil {
		return wrap(ctx, "Unlink", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(ctx, "Unlink", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: Unlink: %w", accountvault.ErrNotFound)
	}
	return nil
}

// List implements [accountvault.Backend]. IDs are compared as bytes. A
// limit that is not positive, or an after that is not valid UTF-8 without
// NUL bytes (no stored ID is), is a usage error and queries nothing.
func (b *Backend) List(ctx context.Context, after string, limit int) ([]accountvault.Account, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite: List: %w", sqlrow.ErrBadLimit)
	}
	if !sqlrow.Storable(after) {
		return nil, fmt.Errorf("sqlite: List: %w", sqlrow.ErrBadCursor)
	}
	return b.query(ctx, "List", limit, stmtList, after, limit)
}

// CompareAndSwap implements [accountvault.Backend]. Token columns are
// compared as bytes, and a NULL token or password equals an empty one.
func (b *Backend) CompareAndSwap(ctx context.Context, old, new accountvault.Account) error {
	if err := sqlrow.CheckSwap(&old, &new); err != nil {
		return err
	}
	if !sqlrow.Storable(old.Password.Reveal()) {
		// No stored password can equal it (and Postgres could not even
		// receive it as TEXT).
		return fmt.Errorf("sqlite: CompareAndSwap: %w", accountvault.ErrConflict)
	}
	updatedAt := new.UpdatedAt.Unix()
	if new.UpdatedAt.IsZero() {
		updatedAt = time.Now().Unix()
	}
	st, err := b.stmt(ctx, stmtCompareAndSwap)
	if err != nil {
		return wrap(ctx, "CompareAndSwap", err)
	}
	res, err := st.ExecContext(ctx,
		sqlrow.Blob(new.AccessToken), sqlrow.Blob(new.RefreshToken), sqlrow.Blob(new.IDToken),
		sqlrow.NullText(new.Password.Reveal()), updatedAt,
		old.ID, old.UserID, old.ProviderID, old.AccountID,
		sqlrow.Blob(old.AccessToken), sqlrow.Blob(old.RefreshToken), sqlrow.Blob(old.IDToken),
		old.Password.Reveal(),
	)
	if err != nil {
		return wrap(ctx, "CompareAndSwap", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(ctx, "CompareAndSwap", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: CompareAndSwap: %w", accountvault.ErrConflict)
	}
	return nil
}

// Count returns the number of rows in the table. The command-line tool
// uses it to estimate the remaining time of a walk over the table; it
// scans the table (or its smallest index), so it is not meant for a hot
// path.
func (b *Backend) Count(ctx context.Context) (int64, error) {
	st, err := b.stmt(ctx, stmtCount)
	if err != nil {
		return 0, wrap(ctx, "Count", err)
	}
	var n int64
	if err := st.QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, wrap(ctx, "Count", err)
	}
	return n, nil
}

// query runs the SELECT k of sqlrow.Columns and reads every row. sizeHint, if
// positive, bounds the initial allocation.
func (b *Backend) query(ctx context.Context, op string, sizeHint int, k stmtKind, args ...any) ([]accountvault.Account, error) {
	st, err := b.stmt(ctx, k)
	if err != nil {
		return nil, wrap(ctx, op, err)
	}
	rows, err := st.QueryContext(ctx, args...)
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
	if err := rows.Close(); err != nil {
		return nil, wrap(ctx, op, err)
	}
	return out, nil
}
