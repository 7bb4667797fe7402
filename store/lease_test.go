package store_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// TestLease checks Store.AcquireLease and ReleaseLease across two stores
// over one table, as two replicas have them: one holder at a time, a
// release frees the name, an expired lease is taken over and its late
// release is refused, names are independent, and account rows are not
// touched.
func TestLease(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		a := newStore(t, env, k)
		b := newStore(t, &avtest.Env{Backend: env.Reopen(t)}, k)
		row := mustUpsert(t, a, account("l1", "u1", "github", "gh-1"))

		la, err := a.AcquireLease(ctx, "refresh github gh-1", time.Minute)
		if err != nil {
			t.Fatalf("AcquireLease: %v", err)
		}
		if d := time.Until(la.Expires); d <= 0 || d > time.Minute {
			t.Errorf("Expires is %v from now, want within a minute", d)
		}
		var held *store.LeaseHeldError
		if _, err := b.AcquireLease(ctx, "refresh github gh-1", time.Minute); !errors.As(err, &held) || !errors.Is(err, accountvault.ErrConflict) {
			t.Fatalf("AcquireLease of a held name from the other replica: %v, want a LeaseHeldError wrapping ErrConflict", err)
		}
		if held.Expires.UnixNano() != la.Expires.UnixNano() {
			t.Errorf("LeaseHeldError.Expires = %v, want %v", held.Expires, la.Expires)
		}
		if _, err := a.AcquireLease(ctx, "refresh github gh-1", time.Minute); !errors.As(err, &held) {
			t.Fatalf("AcquireLease of a held name from the holder's store: %v, want a LeaseHeldError", err)
		}
		// Another name is free.
		lo, err := b.AcquireLease(ctx, "refresh github gh-2", time.Minute)
		if err != nil {
			t.Fatalf("AcquireLease of another name: %v", err)
		}
		if err := a.ReleaseLease(ctx, la); err != nil {
			t.Fatalf("ReleaseLease: %v", err)
		}
		if err := a.ReleaseLease(ctx, la); !errors.Is(err, accountvault.ErrConflict) {
			t.Fatalf("second ReleaseLease: %v, want ErrConflict", err)
		}
		lb, err := b.AcquireLease(ctx, "refresh github gh-1", 50*time.Millisecond)
		if err != nil {
			t.Fatalf("AcquireLease after the release: %v", err)
		}
		// Expired: the other replica takes it over, and the late
		// release of the first holder is refused.
		time.Sleep(100 * time.Millisecond)
		la2, err := a.AcquireLease(ctx, "refresh github gh-1", time.Minute)
		if err != nil {
			t.Fatalf("AcquireLease of an expired lease: %v", err)
		}
		if err := b.ReleaseLease(ctx, lb); !errors.Is(err, accountvault.ErrConflict) {
			t.Fatalf("ReleaseLease of a lease taken over: %v, want ErrConflict", err)
		}
		for _, l := range []*store.Lease{la2, lo} {
			if err := a.ReleaseLease(ctx, l); err != nil {
				t.Fatalf("ReleaseLease: %v", err)
			}
		}
		sameTokens(t, mustFind(t, b, "github", "gh-1"), row)

		if _, err := a.AcquireLease(ctx, "", time.Minute); !errors.Is(err, accountvault.ErrInvalidArgument) {
			t.Errorf("AcquireLease with an empty name: %v, want ErrInvalidArgument", err)
		}
		if _, err := a.AcquireLease(ctx, "n", 0); !errors.Is(err, accountvault.ErrInvalidArgument) {
			t.Errorf("AcquireLease with a zero ttl: %v, want ErrInvalidArgument", err)
		}
		if err := a.ReleaseLease(ctx, &store.Lease{}); !errors.Is(err, accountvault.ErrInvalidArgument) {
			t.Errorf("ReleaseLease of a zero Lease: %v, want ErrInvalidArgument", err)
		}
	})
}

// TestLeaseRace checks that of concurrent AcquireLease calls over two
// stores, exactly one wins, round after round.
func TestLeaseRace(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		stores := []*store.Store{newStore(t, env, k), newStore(t, &avtest.Env{Backend: env.Reopen(t)}, k)}
		const rounds, racers = 5, 8
		for r := range rounds {
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				won  []*store.Lease
				errs []error
			)
			for i := range racers {
				wg.Go(func() {
					l, err := stores[i%2].AcquireLease(ctx, "race", time.Minute)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						won = append(won, l)
					case !errors.Is(err, accountvault.ErrConflict):
						errs = append(errs, err)
					}
				})
			}
			wg.Wait()
			if len(errs) > 0 {
				t.Fatalf("round %d: %v", r, errors.Join(errs...))
			}
			if len(won) != 1 {
				t.Fatalf("round %d: %d winners, want 1", r, len(won))
			}
			if err := stores[0].ReleaseLease(ctx, won[0]); err != nil {
				t.Fatalf("round %d: ReleaseLease: %v", r, err)
			}
		}
	})
}

// noMeta hides a backend's metadata.
type noMeta struct{ accountvault.Backend }

func (noMeta) Table() string { return "accounts" }

func TestLeaseUnsupported(t *testing.T) {
	env := avtest.New(t, "sqlite")
	s := newStore(t, &avtest.Env{Backend: noMeta{env.Backend}}, genKeyring(t))
	if _, err := s.AcquireLease(ctx, "n", time.Minute); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("AcquireLease without metadata: %v, want ErrUnsupported", err)
	}
}
