//go:build unix

package store_test

// Adversarial review of the keyring watcher (review of 56a5e35..f7390d1,
// items 3 and 4: "hang or exhaust a replica").

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
)

// countingAEAD counts the master key's Decrypt calls: with a KMS master
// key, each is a billed, rate-limited network request.
type countingAEAD struct {
	tink.AEAD
	decrypts atomic.Int64
}

func (c *countingAEAD) Decrypt(ct, ad []byte) ([]byte, error) {
	c.decrypts.Add(1)
	return c.AEAD.Decrypt(ct, ad)
}

// TestReviewWatchRefusedCopyDecryptsEveryPoll: a keyring-file writer puts
// back an older authentic copy of the keyring. The watcher refuses it
// (rollback), but does not remember the refused file's sum: at every poll
// it reads the same bytes again, decrypts them again with the master key
// (a KMS request per replica per interval, forever: cost, throttling that
// can starve the application's other KMS calls) and logs a warning again.
// A file that did not change since it was refused needs no new decryption.
func TestReviewWatchRefusedCopyDecryptsEveryPoll(t *testing.T) {
	env := avtest.New(t, "sqlite")
	mk, err := keyring.ParseMasterKey(mustMasterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	master := &countingAEAD{AEAD: mk}
	path := filepath.Join(t.TempDir(), "keyring.json")
	k := genKeyring(t)
	old := k.Clone()
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, env, k)
	mustUpsert(t, s, account("r1", "u", "github", "1"))
	if err := old.SaveFile(path, mk); err != nil { // the rollback
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reports := make(chan error, 100)
	done := make(chan error, 1)
	go func() {
		done <- admin(s).WatchKeyringFile(ctx, path, master, time.Millisecond, func(err error) {
			select {
			case reports <- err:
			default:
			}
		})
	}()
	const polls = 5
	for range polls {
		err := <-reports
		if !errors.Is(err, keyring.ErrRollback) {
			t.Fatalf("watcher report: %v, want ErrRollback", err)
		}
	}
	cancel()
	<-done
	if n := master.decrypts.Load(); n > 1 {
		t.Fatalf("the watcher decrypted the same refused keyring file %d times in %d polls (one master-key call per poll)", n, polls)
	}
}
