package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
)

// Upsert validates a, refuses a Password that is not a recognised hash
// (see [ErrPasswordNotHashed]), seals the three tokens under a fresh data
// key and writes the row through the backend. It returns the stored row
// (its ID and CreatedAt are the existing row's on a re-link) with a's
// tokens.
//
// If the error comes from the database connection (a cut, a timeout), the
// write may or may not have taken effect, possibly after Upsert returned:
// read the row again before relying on either. This holds for every
// write of the store.
func (s *Store) Upsert(ctx context.Context, a accountvault.Account) (accountvault.Account, error) {
	kv, err := s.ready(ctx)
	if err != nil {
		return accountvault.Account{}, err
	}
	if err := s.checkWrite(&a); err != nil {
		return accountvault.Account{}, err
	}
	w, err := s.seal(kv, &a)
	if err != nil {
		return accountvault.Account{}, err
	}
	got, err := s.b.Upsert(ctx, w)
	if err != nil {
		return accountvault.Account{}, err
	}
	out := plainAccount(&got)
	out.AccessToken, out.RefreshToken, out.IDToken = a.AccessToken, a.RefreshToken, a.IDToken
	return out, nil
}

// FindByProvider returns the row for (providerID, accountID) with its tokens
// opened. A row that fails to open is an *[accountvault.RowError] wrapping
// ErrDecrypt, ErrUnknownKey, ErrLegacyPlaintext or ErrUnexpectedPlaintext.
func (s *Store) FindByProvider(ctx context.Context, providerID, accountID string) (accountvault.Account, error) {
	kv, err := s.ready(ctx)
	if err != nil {
		return accountvault.Account{}, err
	}
	raw, err := s.b.FindByProvider(ctx, providerID, accountID)
	if err != nil {
		return accountvault.Account{}, err
	}
	if kv, err = s.since(ctx, kv); err != nil {
		return accountvault.Account{}, err
	}
	return s.open(ctx, kv, &raw, &legacyState{})
}

// FindForUser returns the user's rows with their tokens opened. Rows that
// fail to open, or that the backend cannot read (a time that is not epoch
// seconds: [accountvault.ErrInvalidTime]), are not dropped silently:
// FindForUser then returns the rows that did open together with an error
// joining one *[accountvault.RowError] per failing row.
func (s *Store) FindForUser(ctx context.Context, userID string) ([]accountvault.Account, error) {
	kv, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	raw, unread, err := readRows(s.b.FindForUser(ctx, userID))
	if err != nil {
		return nil, err
	}
	if kv, err = s.since(ctx, kv); err != nil {
		return nil, err
	}
	out, err := s.openAll(ctx, kv, raw)
	if err != nil && !isRowErrors(err) {
		return nil, err
	}
	return out, errors.Join(unread, err)
}

// List returns a page of rows in id order with their tokens opened, with the
// same treatment of rows that fail to open as [Store.FindForUser]. Pass the
// last id of a page as after to get the next; an empty page is the end.
// Rows that failed to open still advance the cursor: page on from the
// largest id among the returned rows and the error's RowError ids. A limit
// that is not positive is an error wrapping
// [accountvault.ErrInvalidArgument].
func (s *Store) List(ctx context.Context, after string, limit int) ([]accountvault.Account, error) {
	kv, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	raw, unread, err := readRows(s.b.List(ctx, after, limit))
	if err != nil {
		return nil, err
	}
	if kv, err = s.since(ctx, kv); err != nil {
		return nil, err
	}
	out, err := s.openAll(ctx, kv, raw)
	if err != nil && !isRowErrors(err) {
		return nil, err
	}
	return out, errors.Join(unread, err)
}

// Unlink deletes the row for (providerID, accountID) (ErrNotFound if none).
func (s *Store) Unlink(ctx context.Context, providerID, accountID string) error {
	return s.b.Unlink(ctx, providerID, accountID)
}

// DeleteUser erases a user: it deletes every row of userID (every linked
// identity, and the password) in one transaction, and returns how many it
// deleted. It logs an audit event with the user id and the count. It does
// not reach copies outside the table, such as backups: see SECURITY.md.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	n, err := s.b.DeleteUser(ctx, userID)
	if err != nil {
		return 0, err
	}
	s.log.Info("accountvault: user erased", "table", s.table, "user_id", userID, "rows", n)
	return n, nil
}

// CompareAndSwap replaces the tokens, expiries, scope and password of the
// row old.ID with new's, atomically, if the row still holds old's tokens
// and password (compared in plaintext, in constant time: the stored values
// are sealed under per-write data keys). A row changed or deleted
// meanwhile gives an error wrapping ErrConflict, and nothing is written.
// This is how a token refresh is stored: the first of two concurrent
// refreshes wins, and the other learns it.
//
// new must keep old's ID, UserID, ProviderID and AccountID; its CreatedAt
// is ignored, and a zero UpdatedAt becomes now.
func (s *Store) CompareAndSwap(ctx context.Context, old, new accountvault.Account) error {
	kv, err := s.ready(ctx)
	if err != nil {
		return err
	}
	if new.ID != old.ID || new.UserID != old.UserID || new.ProviderID != old.ProviderID || new.AccountID != old.AccountID {
		return &accountvault.InvalidAccountError{Field: "ID", Reason: "of new differs from old (CompareAndSwap keeps a row's identity)"}
	}
	if err := s.checkWrite(&new); err != nil {
		return err
	}
	raw, err := s.b.FindByProvider(ctx, old.ProviderID, old.AccountID)
	if errors.Is(err, accountvault.ErrNotFound) {
		return fmt.Errorf("store: row %q is gone: %w", old.ID, accountvault.ErrConflict)
	}
	if err != nil {
		return err
	}
	if raw.ID != old.ID || raw.UserID != old.UserID {
		return fmt.Errorf("store: row %q was re-linked: %w", old.ID, accountvault.ErrConflict)
	}
	if kv, err = s.since(ctx, kv); err != nil {
		return err
	}
	cur, err := s.open(ctx, kv, &raw, &legacyState{})
	if err != nil {
		return err
	}
	if !cur.AccessToken.Equal(old.AccessToken) || !cur.RefreshToken.Equal(old.RefreshToken) ||
		!cur.IDToken.Equal(old.IDToken) || !cur.Password.Equal(old.Password) {
		return fmt.Errorf("store: row %q changed: %w", old.ID, accountvault.ErrConflict)
	}
	w, err := s.seal(kv, &new)
	if err != nil {
		return err
	}
	return s.b.CompareAndSwap(ctx, raw, w)
}

// checkWrite validates a plaintext Account before it is sealed.
func (s *Store) checkWrite(a *accountvault.Account) error {
	if err := a.Validate(); err != nil {
		return err
	}
	f := plainFields(a)
	if err := checkPlaintext(&f); err != nil {
		return err
	}
	return s.checkPassword(a.Password)
}

// checkPlaintext enforces the envelope's plaintext limit on each token.
func checkPlaintext(f *envelope.Fields) error {
	for c, v := range f {
		if len(v) > envelope.MaxPlaintext {
			return &accountvault.InvalidAccountError{
				Field:  fieldName(envelope.Column(c)),
				Reason: "exceeds " + strconv.Itoa(envelope.MaxPlaintext) + " bytes",
			}
		}
	}
	return nil
}

// checkPassword refuses a Password that is not a recognised hash.
func (s *Store) checkPassword(hash accountvault.Secret) error {
	if !hash.IsZero() && !s.pw.recognized(hash) {
		return errPasswordNotHashed
	}
	return nil
}

// seal returns a's row with its tokens sealed under kv's primary key.
func (s *Store) seal(kv *keyVersion, a *accountvault.Account) (accountvault.SealedRow, error) {
	w := sealedRow(a)
	sealed, err := envelope.Seal(kv, s.place(&w), plainFields(a))
	if err != nil {
		return accountvault.SealedRow{}, fmt.Errorf("store: sealing tokens: %w", err)
	}
	setSealed(&w, &sealed)
	return w, nil
}

// open returns raw as an Account with its tokens opened, or a *RowError
// naming the row and column that failed. In legacy-read mode, legacy
// plaintext values are returned as they are.
func (s *Store) open(ctx context.Context, kv *keyVersion, raw *accountvault.SealedRow, ls *legacyState) (accountvault.Account, error) {
	f := sealedFields(raw)
	var legacy envelope.Fields
	var kinds *[envelope.NumColumns]valueKind
	for c, v := range f {
		if len(v) == 0 || envelope.IsSealed(v) {
			continue
		}
		// An unsealed value. The request path returns one only in
		// legacy-read mode, and only if it may be legacy data.
		if !s.legacyRead {
			return accountvault.Account{}, s.openFailed(raw.ID, unsealedError(envelope.Column(c), valueLegacy))
		}
		if kinds == nil {
			open, err := ls.get(ctx, s)
			if err != nil {
				return accountvault.Account{}, err
			}
			k := classify(&f, open)
			kinds = &k
		}
		if k := kinds[c]; k != valueLegacy {
			return accountvault.Account{}, s.openFailed(raw.ID, unsealedError(envelope.Column(c), k))
		}
		tok, _, err := s.betterAuth.openLegacy(envelope.Column(c), v)
		if err != nil {
			return accountvault.Account{}, s.openFailed(raw.ID, &envelope.ColumnError{Column: envelope.Column(c), Err: err})
		}
		legacy[c] = tok
	}
	for c, v := range legacy {
		if v != nil {
			f[c] = nil
		}
	}
	plain, err := envelope.Open(kv, s.place(raw), f)
	if err != nil {
		return accountvault.Account{}, s.openFailed(raw.ID, err)
	}
	for c, v := range legacy {
		if v != nil {
			plain[c] = v
		}
	}
	a := plainAccount(raw)
	setPlain(&a, &plain)
	return a, nil
}

func (s *Store) openFailed(id string, err error) *accountvault.RowError {
	rerr := rowError(id, err)
	s.log.Warn("accountvault: sealed value failed to open", "table", s.table, "row_id", id, "column", rerr.Column, "error_kind", ErrorKind(err))
	return rerr
}

func (s *Store) openAll(ctx context.Context, kv *keyVersion, raw []accountvault.SealedRow) ([]accountvault.Account, error) {
	out := make([]accountvault.Account, 0, len(raw))
	var errs []error
	ls := new(legacyState) // one metadata read per call, not per row
	for i := range raw {
		a, err := s.open(ctx, kv, &raw[i], ls)
		if err != nil {
			var re *accountvault.RowError
			if !errors.As(err, &re) {
				return nil, err // not the row's fault: the call failed
			}
			errs = append(errs, err)
			continue
		}
		out = append(out, a)
	}
	return out, errors.Join(errs...)
}

// readRows splits what a Backend's List or FindForUser returned: the rows
// it read, the error joining the *RowErrors of the rows it could not read
// (nil if none), and any other error.
func readRows(raw []accountvault.SealedRow, err error) ([]accountvault.SealedRow, error, error) {
	if err == nil || isRowErrors(err) {
		return raw, err, nil
	}
	return nil, nil, err
}

func isRowErrors(err error) bool {
	_, ok := accountvault.RowErrors(err)
	return ok
}

// plainFields returns a's tokens, without copying them: envelope.Seal only
// reads its input.
func plainFields(a *accountvault.Account) envelope.Fields {
	return envelope.Fields{a.AccessToken.Bytes(), a.RefreshToken.Bytes(), a.IDToken.Bytes()}
}

// sealedFields returns r's sealed tokens.
func sealedFields(r *accountvault.SealedRow) envelope.Fields {
	return envelope.Fields{r.AccessToken, r.RefreshToken, r.IDToken}
}

// setSealed stores f in r's tokens.
func setSealed(r *accountvault.SealedRow, f *envelope.Fields) {
	r.AccessToken, r.RefreshToken, r.IDToken = f[envelope.AccessToken], f[envelope.RefreshToken], f[envelope.IDToken]
}

// setPlain hands f's plaintexts to a's tokens, without copying: envelope
// results are fresh allocations that nothing else holds.
func setPlain(a *accountvault.Account, f *envelope.Fields) {
	a.AccessToken = accountvault.SecretBytes(f[envelope.AccessToken])
	a.RefreshToken = accountvault.SecretBytes(f[envelope.RefreshToken])
	a.IDToken = accountvault.SecretBytes(f[envelope.IDToken])
}

// sealedRow returns a's row without its tokens.
func sealedRow(a *accountvault.Account) accountvault.SealedRow {
	return accountvault.SealedRow{
		ID: a.ID, UserID: a.UserID, ProviderID: a.ProviderID, AccountID: a.AccountID,
		AccessTokenExpiresAt: a.AccessTokenExpiresAt, RefreshTokenExpiresAt: a.RefreshTokenExpiresAt,
		Scope: a.Scope, Password: a.Password, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

// plainAccount returns r's Account without its tokens.
func plainAccount(r *accountvault.SealedRow) accountvault.Account {
	return accountvault.Account{
		ID: r.ID, UserID: r.UserID, ProviderID: r.ProviderID, AccountID: r.AccountID,
		AccessTokenExpiresAt: r.AccessTokenExpiresAt, RefreshTokenExpiresAt: r.RefreshTokenExpiresAt,
		Scope: r.Scope, Password: r.Password, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

func fieldName(c envelope.Column) string {
	switch c {
	case envelope.AccessToken:
		return "AccessToken"
	case envelope.RefreshToken:
		return "RefreshToken"
	case envelope.IDToken:
		return "IDToken"
	}
	return c.String()
}

func rowError(id string, err error) *accountvault.RowError {
	var ce *envelope.ColumnError
	if errors.As(err, &ce) {
		return &accountvault.RowError{ID: id, Column: ce.Column.String(), Err: ce.Err}
	}
	return &accountvault.RowError{ID: id, Err: err}
}

// ErrorKind names the class of a failure to open a sealed value, as audit
// events and the CLI's reports show it: "unknown_key", "legacy_plaintext",
// "unexpected_plaintext", "better_auth" (see [ErrBetterAuthCiphertext]),
// "decrypt", "invalid_time", or "other".
func ErrorKind(err error) string {
	switch {
	case errors.Is(err, ErrBetterAuthCiphertext):
		return "better_auth"
	case errors.Is(err, accountvault.ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, accountvault.ErrLegacyPlaintext):
		return "legacy_plaintext"
	case errors.Is(err, accountvault.ErrUnexpectedPlaintext):
		return "unexpected_plaintext"
	case errors.Is(err, accountvault.ErrDecrypt):
		return "decrypt"
	case errors.Is(err, accountvault.ErrInvalidTime):
		return "invalid_time"
	}
	return "other"
}

// legacyState reads the table's adoption state once, when a call first
// needs it (legacy-read mode, an unsealed value), for all the rows it opens.
type legacyState struct {
	read, open bool
}

func (l *legacyState) get(ctx context.Context, s *Store) (bool, error) {
	if l.read {
		return l.open, nil
	}
	open, err := s.legacyOpen(ctx)
	if err != nil {
		return false, err
	}
	l.read, l.open = true, open
	return open, nil
}
