package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"unsafe"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/keyring"
)

// Upsert validates a, refuses a Password that is not a recognised hash
// (see [ErrPasswordNotHashed]), seals the three tokens under a fresh data
// key and writes the row through the backend. It returns the stored row
// with its tokens in plaintext.
//
// If the error comes from the database connection (a cut, a timeout), the
// write may or may not have taken effect, possibly after Upsert returned:
// read the row again before relying on either. This holds for every
// write of the store.
func (s *Store) Upsert(ctx context.Context, a accountvault.Account) (accountvault.Account, error) {
	kek, err := s.ready(ctx)
	if err != nil {
		return accountvault.Account{}, err
	}
	if err := s.checkWrite(&a); err != nil {
		return accountvault.Account{}, err
	}
	w, err := s.seal(kek, a)
	if err != nil {
		return accountvault.Account{}, err
	}
	got, err := s.b.Upsert(ctx, w)
	if err != nil {
		return accountvault.Account{}, err
	}
	got.AccessToken, got.RefreshToken, got.IDToken = a.AccessToken, a.RefreshToken, a.IDToken
	return got, nil
}

// FindByProvider returns the row for (providerID, accountID) with its tokens
// opened. A row that fails to open is an *[accountvault.RowError] wrapping
// ErrDecrypt, ErrUnknownKey or ErrLegacyPlaintext.
func (s *Store) FindByProvider(ctx context.Context, providerID, accountID string) (accountvault.Account, error) {
	kek, err := s.ready(ctx)
	if err != nil {
		return accountvault.Account{}, err
	}
	raw, err := s.b.FindByProvider(ctx, providerID, accountID)
	if err != nil {
		return accountvault.Account{}, err
	}
	return s.open(kek, raw)
}

// FindForUser returns the user's rows with their tokens opened. Rows that
// fail to open are not dropped silently: FindForUser then returns the rows
// that did open together with an error joining one *[accountvault.RowError]
// per failing row.
func (s *Store) FindForUser(ctx context.Context, userID string) ([]accountvault.Account, error) {
	kek, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := s.b.FindForUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.openAll(kek, raw)
}

// List returns a page of rows in id order with their tokens opened, with the
// same treatment of rows that fail to open as [Store.FindForUser]. Pass the
// last id of a page as after to get the next; an empty page is the end.
// Rows that failed to open still advance the cursor: use the error's
// RowError ids, or the backend's own List, to page past them.
func (s *Store) List(ctx context.Context, after string, limit int) ([]accountvault.Account, error) {
	kek, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := s.b.List(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	return s.openAll(kek, raw)
}

// Unlink deletes the row for (providerID, accountID) (ErrNotFound if none).
func (s *Store) Unlink(ctx context.Context, providerID, accountID string) error {
	return s.b.Unlink(ctx, providerID, accountID)
}

// CompareAndSwap replaces the tokens and password of the row old.ID with
// new's if the row still holds old's (compared in plaintext: the stored
// values are sealed under per-write data keys). A row changed or deleted
// meanwhile gives an error wrapping ErrConflict. The swap itself is atomic
// in the backend, so a concurrent write always wins.
func (s *Store) CompareAndSwap(ctx context.Context, old, new accountvault.Account) error {
	kek, err := s.ready(ctx)
	if err != nil {
		return err
	}
	if new.ID != old.ID || new.UserID != old.UserID || new.ProviderID != old.ProviderID || new.AccountID != old.AccountID {
		return &accountvault.InvalidAccountError{Field: "ID", Reason: "of new differs from old (CompareAndSwap changes only secret columns)"}
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
	cur, err := s.open(kek, raw)
	if err != nil {
		return err
	}
	if cur.AccessToken != old.AccessToken || cur.RefreshToken != old.RefreshToken ||
		cur.IDToken != old.IDToken || cur.Password != old.Password {
		return fmt.Errorf("store: row %q changed: %w", old.ID, accountvault.ErrConflict)
	}
	w, err := s.seal(kek, new)
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
	if err := checkPlaintext(tokens(a)); err != nil {
		return err
	}
	return s.checkPassword(a)
}

// checkPlaintext enforces the envelope's plaintext limit on each token.
func checkPlaintext(f envelope.Fields) error {
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
func (s *Store) checkPassword(a *accountvault.Account) error {
	if a.Password != "" && !s.pw.recognized(a.Password) {
		return errPasswordNotHashed
	}
	return nil
}

// seal returns a copy of a with its tokens sealed.
func (s *Store) seal(kek *keyring.KEK, a accountvault.Account) (accountvault.Account, error) {
	sealed, err := envelope.Seal(kek, s.place(&a), tokens(&a))
	if err != nil {
		return accountvault.Account{}, fmt.Errorf("store: sealing tokens: %w", err)
	}
	setTokens(&a, sealed)
	return a, nil
}

// open returns raw with its tokens opened, or a *RowError naming the row and
// column that failed.
func (s *Store) open(kek *keyring.KEK, raw accountvault.Account) (accountvault.Account, error) {
	f := tokens(&raw)
	var legacy envelope.Fields
	if s.legacy {
		for c, v := range f {
			if len(v) > 0 && !envelope.IsSealed(v) {
				legacy[c], f[c] = v, nil
			}
		}
	}
	plain, err := envelope.Open(kek, s.place(&raw), f)
	if err != nil {
		rerr := rowError(raw.ID, err)
		s.log.Warn("accountvault: sealed value failed to open", "table", s.table, "row_id", raw.ID, "column", rerr.Column, "error_kind", ErrorKind(err))
		return accountvault.Account{}, rerr
	}
	for c, v := range legacy {
		if v != nil {
			plain[c] = v
		}
	}
	setTokens(&raw, plain)
	return raw, nil
}

func (s *Store) openAll(kek *keyring.KEK, raw []accountvault.Account) ([]accountvault.Account, error) {
	out := raw[:0]
	var errs []error
	for _, r := range raw {
		a, err := s.open(kek, r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, a)
	}
	return out, errors.Join(errs...)
}

// tokens returns a's three tokens as byte slices that alias the strings'
// memory: no copy of a token (sealed or plaintext) is made on the hot path.
// The slices must only be read: the envelope package never writes to its
// inputs, and nothing in this package does either.
func tokens(a *accountvault.Account) envelope.Fields {
	var f envelope.Fields
	for c, v := range [...]accountvault.Secret{a.AccessToken, a.RefreshToken, a.IDToken} {
		if v != "" {
			f[c] = unsafe.Slice(unsafe.StringData(v.Reveal()), len(v))
		}
	}
	return f
}

// setTokens stores f in a's tokens without copying. The slices become the
// strings' memory, so they must not be written afterwards: envelope
// results are fresh allocations that nothing else holds.
func setTokens(a *accountvault.Account, f envelope.Fields) {
	a.AccessToken = secretOf(f[envelope.AccessToken])
	a.RefreshToken = secretOf(f[envelope.RefreshToken])
	a.IDToken = secretOf(f[envelope.IDToken])
}

func secretOf(b []byte) accountvault.Secret {
	if len(b) == 0 {
		return ""
	}
	return accountvault.Secret(unsafe.String(unsafe.SliceData(b), len(b)))
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
// "decrypt", or "other".
func ErrorKind(err error) string {
	switch {
	case errors.Is(err, accountvault.ErrUnknownKey):
		return "unknown_key"
	case errors.Is(err, accountvault.ErrLegacyPlaintext):
		return "legacy_plaintext"
	case errors.Is(err, accountvault.ErrDecrypt):
		return "decrypt"
	}
	return "other"
}
