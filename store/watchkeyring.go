package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault/keyring"
)

// WatchKeyring keeps the store's keyring in step with the table's database
// keyring ([DBKeyring]): whenever the stored bytes change, it loads them
// under master and calls [Store.Reload] with the keyring's KEK. It reads
// the stored keyring when it starts and every interval; on a backend that
// is a [KeyringNotifier] (Postgres) it also listens, on one connection of
// its own, and reads at once when an edit announces itself, so that a
// change reaches the store in about a round trip, with polling as the
// fallback (a lost connection is reported to onError and listened again
// after an interval). It returns when ctx is done, with ctx's error.
//
// A stored keyring that cannot be read or loaded (none stored, corrupt,
// the wrong master key) is reported to onError (if not nil) at every read,
// and the store keeps its keyring. A keyring the store refuses (a rollback:
// an older copy put back in the database, see [Store.Reload]) is reported
// once, with an audit event, and not loaded again until the stored bytes
// change. onError is called on WatchKeyring's goroutine, never after it
// returned.
func (a *Admin) WatchKeyring(ctx context.Context, master tink.AEAD, interval time.Duration, onError func(error)) error {
	s := a.s
	if interval <= 0 {
		return errors.New("store: WatchKeyring: interval must be positive")
	}
	if master == nil {
		return fmt.Errorf("store: WatchKeyring: %w", keyring.ErrNoMasterKey)
	}
	d, err := NewDBKeyring(s.b)
	if err != nil {
		return err
	}
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	listenErr := make(chan error)
	lctx, stopListening := context.WithCancel(ctx)
	listenDone := make(chan struct{})
	if d.notifier != nil {
		go func() {
			defer close(listenDone)
			for {
				err := d.notifier.ListenKeyring(lctx, poke, poke)
				if lctx.Err() != nil {
					return
				}
				select {
				case listenErr <- fmt.Errorf("store: listening for keyring changes (polling meanwhile): %w", err):
				case <-lctx.Done():
					return
				}
				t := time.NewTimer(interval)
				select {
				case <-lctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}()
	} else {
		close(listenDone)
	}
	defer func() {
		stopListening()
		<-listenDone
	}()

	var last [sha256.Size]byte // of the stored bytes last loaded or refused
	check := func() {
		k, sum, err := keyring.LoadSlotIfChanged(ctx, d, master, last)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			s.watchErr(onError, err)
			return
		case k == nil:
			return // unchanged
		}
		kek, err := k.KEK()
		if err == nil && !s.sameKeys(kek) {
			err = s.Reload(kek)
		}
		// A refusal is final for these bytes: the store's keys only move
		// forward. Report it once.
		last = sum
		if err != nil {
			s.watchErr(onError, err)
		}
	}
	check()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-listenErr:
			s.watchErr(onError, err)
		case <-wake:
			check()
		case <-t.C:
			check()
		}
	}
}

// sameKeys reports whether kek is the keyring version the store holds
// already (same generation, keys and statuses): reloading it would only
// make the store verify its keys again.
func (s *Store) sameKeys(kek *keyring.KEK) bool {
	cur, ok := s.keys.Load().Keys.(*keyring.KEK)
	return ok && cur.Generation() == kek.Generation() && cur.Generation() != 0 && keyring.CheckSuccessor(cur, kek) == nil
}
