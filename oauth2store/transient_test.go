package oauth2store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/oauth2store"
	"github.com/accountvault/accountvault/store"
)

// metaBackend is what a store over a real backend sees: the backend and
// its metadata (for the lease).
type metaBackend interface {
	accountvault.Backend
	accountvault.Metadata
}

// cutOnSwap is a real backend whose next CompareAndSwap calls fail with a
// transient error, as a connection cut or a failover makes them fail:
// before the write (landed false) or after it (landed true: the write
// committed, its answer was lost).
type cutOnSwap struct {
	metaBackend
	fails  atomic.Int32
	landed bool
}

func (b *cutOnSwap) CompareAndSwap(ctx context.Context, old, new accountvault.SealedRow) error {
	if b.fails.Add(-1) < 0 {
		return b.metaBackend.CompareAndSwap(ctx, old, new)
	}
	if b.landed {
		if err := b.metaBackend.CompareAndSwap(ctx, old, new); err != nil {
			return err
		}
	}
	return fmt.Errorf("test: connection cut: %w", accountvault.ErrTransient)
}

// TestTransientSwapKeepsRefresh: the refresh token is spent once the
// server answers, so a transient error while storing the answer must not
// lose it. The swap is written again; when the first write had landed,
// the retry conflicts with it and the re-read finds this refresh's pair.
// Either way Token returns the pair the server issued and the row holds
// it, with one refresh.
func TestTransientSwapKeepsRefresh(t *testing.T) {
	for _, landed := range []bool{false, true} {
		t.Run(fmt.Sprintf("landed=%t", landed), func(t *testing.T) {
			env := avtest.New(t, "sqlite")
			k, err := keyring.Generate()
			if err != nil {
				t.Fatal(err)
			}
			kek, err := k.KEK()
			if err != nil {
				t.Fatal(err)
			}
			mb, ok := env.Backend.(metaBackend)
			if !ok {
				t.Fatalf("%T keeps no metadata", env.Backend)
			}
			cut := &cutOnSwap{metaBackend: mb, landed: landed}
			s, err := store.New(cut, kek, store.WithTable(mb.(interface{ Table() string }).Table()))
			if err != nil {
				t.Fatal(err)
			}
			srv := newAuthServer(t, time.Hour)
			link(t, s, srv.login(t), true)
			// Not landed: two cuts, then the write. Landed: one cut after
			// the write; the retry then conflicts with it.
			want := int64(2)
			if landed {
				want = 1
			}
			cut.fails.Store(int32(want))
			var c oauth2store.Counters
			got, err := newSource(t, s, srv.cfg, oauth2store.WithCounters(&c)).Token()
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			newest, g := srv.newest()
			if g != 1 {
				t.Fatalf("the server issued %d refreshes, want 1", g)
			}
			if got.AccessToken != newest.access || got.RefreshToken != newest.refresh {
				t.Error("Token did not return the refreshed pair")
			}
			if !holds(find(t, s), newest) {
				t.Error("the row does not hold the refreshed pair: the spent refresh token's result was lost")
			}
			if n := c.Snapshot().TransientRetries; n != want {
				t.Errorf("%d swaps written again, want %d", n, want)
			}
		})
	}
}
