package store

import (
	"context"
	"fmt"

	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/keyring"
)

// probeRows is how many rows Verify samples.
const probeRows = 100

// Verify checks that the store's keyring can open the table's data, the way
// Authelia checks its encryption-check value: it samples the first rows in
// id order and requires at least one sealed row among them to open. (A
// single tampered row does not make it fail; a wrong keyring or a wrong
// table name makes every row fail.) An empty table, or one holding only
// legacy plaintext, passes.
//
// Every Store method runs Verify once before its first use, and again after
// each [Store.Reload], so a misconfigured store fails clearly at its first
// call instead of row by row later. The error wraps [ErrWrongKeyring] and
// the cause.
func (s *Store) Verify(ctx context.Context) error {
	kek := s.kek.Load()
	if err := s.verify(ctx, kek); err != nil {
		return err
	}
	s.verified.Store(kek)
	return nil
}

// verify checks kek against the table's first rows.
func (s *Store) verify(ctx context.Context, kek *keyring.KEK) error {
	rows, err := s.b.List(ctx, "", probeRows)
	if err != nil {
		return fmt.Errorf("store: sampling rows to verify the keyring: %w", err)
	}
	sealed := 0
	var first error
	var firstID string
	for i := range rows {
		r := &rows[i]
		f := tokens(r)
		hasSealed := false
		for c, v := range f {
			if len(v) == 0 || !envelope.IsSealed(v) {
				f[c] = nil
				continue
			}
			hasSealed = true
		}
		if !hasSealed {
			continue
		}
		sealed++
		if _, err := envelope.Open(kek, s.place(r), f); err != nil {
			if first == nil {
				first, firstID = err, r.ID
			}
			continue
		}
		return nil
	}
	if sealed > 0 {
		return fmt.Errorf("%w: none of the %d sealed rows sampled opens (row %q: %w)", ErrWrongKeyring, sealed, firstID, first)
	}
	return nil
}

// ready returns the current keyring version, after verifying it once (see
// Verify). Callers seal and open with the version it returns, so that what
// they use is what was verified, even while Reload swaps versions.
func (s *Store) ready(ctx context.Context) (*keyring.KEK, error) {
	kek := s.kek.Load()
	if s.verified.Load() == kek {
		return kek, nil
	}
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	kek = s.kek.Load()
	if s.verified.Load() == kek {
		return kek, nil
	}
	if err := s.verify(ctx, kek); err != nil {
		return nil, err
	}
	s.verified.Store(kek)
	return kek, nil
}
