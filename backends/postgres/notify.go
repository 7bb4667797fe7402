package postgres

import (
	"context"
	"errors"
	"time"
)

// KeyringChannel is the Postgres notification channel on which
// [Backend.NotifyKeyring] announces a change of a table's database keyring
// and [Backend.ListenKeyring] listens. The payload is the table's name,
// quoted and qualified by its schema as the backend's statements name it.
const KeyringChannel = "accountvault_keyring"

// NotifyKeyring tells the processes listening with [Backend.ListenKeyring]
// on the table that its database keyring changed (package store's
// DBKeyring calls it after an edit is saved). A notification carries no
// data: listeners read the keyring from the table's metadata, and a
// database writer who sends one can at most make them read it early.
func (b *Backend) NotifyKeyring(ctx context.Context) error {
	if _, err := b.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, KeyringChannel, b.qualified); err != nil {
		return wrap(ctx, "NotifyKeyring", err)
	}
	return nil
}

// ListenKeyring takes a connection out of the pool for itself (the pool
// opens another in its place when it needs one), runs LISTEN on
// [KeyringChannel] on it, calls listening, and then changed for every
// notification of the table's keyring, until ctx is done or the
// connection fails. It closes the connection and returns the error: ctx's
// error (wrapped) once ctx is done. listening and changed run on
// ListenKeyring's goroutine and should return quickly.
//
// Notifications sent while no connection listens are lost: a caller
// re-reads the keyring when listening is called (after every reconnection)
// and polls as well.
func (b *Backend) ListenKeyring(ctx context.Context, listening, changed func()) (err error) {
	pc, err := b.pool.Acquire(ctx)
	if err != nil {
		return wrap(ctx, "ListenKeyring", err)
	}
	conn := pc.Hijack()
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if cerr := conn.Close(cctx); cerr != nil {
			err = errors.Join(err, wrap(cctx, "ListenKeyring: close", cerr))
		}
	}()
	if _, err := conn.Exec(ctx, `LISTEN `+KeyringChannel); err != nil {
		return wrap(ctx, "ListenKeyring", err)
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return wrap(ctx, "ListenKeyring", err)
		}
		if n.Channel == KeyringChannel && n.Payload == b.qualified {
			changed()
		}
	}
}
