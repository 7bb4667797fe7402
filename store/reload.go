package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault/keyring"
)

// WatchKeyringFile keeps the store's keyring in step with the encrypted
// keyring file at path: every interval it reads the file and, if its bytes
// changed, loads it under master and calls [Store.Reload] with its KEK. It
// returns when ctx is done (with ctx's error), within one interval: each
// read is bounded and never blocks (see [keyring.LoadFileIfChanged]).
//
// This is how running replicas pick up a staged or promoted key without a
// restart: the operator edits the shared keyring file (`accountvault keys
// stage`), and within one interval every replica can unwrap with the new
// key. An unreadable or invalid file is reported to onError (if not nil) and
// the store keeps its current keyring; the file is read again at the next
// tick.
//
// Polling is used rather than file-system notifications because it works
// the same on every platform and on files replaced by rename, on network
// mounts and on Kubernetes secret volumes.
func (a *Admin) WatchKeyringFile(ctx context.Context, path string, master tink.AEAD, interval time.Duration, onError func(error), opts ...keyring.LoadOption) error {
	s := a.s
	if interval <= 0 {
		return fmt.Errorf("store: WatchKeyringFile: interval must be positive")
	}
	var (
		last    [sha256.Size]byte // of the file last reloaded
		refused error             // why the file at last was refused, if it was
	)
	check := func() {
		// One bounded, non-blocking read for both the change check and
		// the load (a FIFO, /dev/zero or a huge file is refused).
		k, sum, err := keyring.LoadFileIfChanged(path, master, last, opts...)
		if err != nil {
			s.watchErr(onError, err)
			return
		}
		if k == nil {
			// Unchanged. A refused file stays refused: it is reported
			// at every poll, without another master-key (KMS) call.
			if refused != nil {
				s.watchErr(onError, refused)
			}
			return
		}
		last, refused = sum, nil
		kek, err := k.KEK()
		if err != nil {
			refused = err
			s.watchErr(onError, err)
			return
		}
		if err := s.Reload(kek); err != nil {
			refused = err
			s.watchErr(onError, err)
			return
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			check()
		}
	}
}

func (s *Store) watchErr(onError func(error), err error) {
	s.log.Warn("accountvault: keyring reload failed", "error", err.Error())
	if onError != nil {
		onError(err)
	}
}
