package password

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/accountvault/accountvault/internal/kdftrace"
)

// TestLimiterInFlight runs many concurrent verifies and checks, through the
// derivation hook, how many ran at once: the limiter's capacity is 2 hashes
// of the policy's memory, and each stored hash reserves its own memory.
func TestLimiterInFlight(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, WithPolicy(smallPolicy), WithConcurrency(2)) // 128 KiB
	log := watchKDF(t)
	for _, tc := range []struct {
		memory  uint32
		wantMax int64
	}{
		{64, 2},   // the policy: 2 at once
		{32, 4},   // half the memory: 4 at once
		{128, 1},  // the whole capacity: 1 at once
		{1024, 1}, // more than the capacity: clamped, runs alone
	} {
		p := Policy{Memory: tc.memory, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
		stored, err := newHasher(t, WithPolicy(p)).Hash(ctx, "password")
		if err != nil {
			t.Fatal(err)
		}
		log.Reset()
		log.OnBegin(func(kdftrace.Call) { time.Sleep(5 * time.Millisecond) }) // make overlaps certain
		var wg sync.WaitGroup
		errs := make(chan error, 24)
		for range 24 {
			wg.Go(func() {
				match, _, err := h.Verify(ctx, "password", stored)
				if err == nil && !match {
					err = errors.New("no match")
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("m=%d: %v", tc.memory, err)
			}
		}
		if got := int64(log.MaxInFlight()); got != tc.wantMax {
			t.Errorf("m=%d: %d derivations ran at once, want %d", tc.memory, got, tc.wantMax)
		}
		if log.Count() != 24 {
			t.Errorf("m=%d: %d derivations, want 24", tc.memory, log.Count())
		}
		log.OnBegin(nil)
	}
}

// TestLimiterCancel fills the limiter with a hash that blocks inside its
// derivation, then checks that callers waiting for room give up promptly
// when their context is done, having hashed nothing.
func TestLimiterCancel(t *testing.T) {
	h := newHasher(t, WithPolicy(smallPolicy), WithConcurrency(1))
	stored, err := h.Hash(context.Background(), "password")
	if err != nil {
		t.Fatal(err)
	}
	log := watchKDF(t)
	started, hold := make(chan struct{}), make(chan struct{})
	var once sync.Once
	log.OnBegin(func(kdftrace.Call) {
		once.Do(func() { close(started); <-hold })
	})
	first := make(chan error, 1)
	go func() {
		match, _, err := h.Verify(context.Background(), "password", stored)
		if err == nil && !match {
			err = errors.New("no match")
		}
		first <- err
	}()
	<-started

	waiters := map[string]func(context.Context) error{
		"Verify": func(ctx context.Context) error {
			_, _, err := h.Verify(ctx, "password", stored)
			return err
		},
		"VerifyDummy": func(ctx context.Context) error { return h.VerifyDummy(ctx, "password") },
		"Hash": func(ctx context.Context) error {
			_, err := h.Hash(ctx, "password")
			return err
		},
	}
	for name, call := range waiters {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- call(ctx) }()
		time.Sleep(20 * time.Millisecond) // let it queue
		cancelled := time.Now()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: got %v, want context.Canceled", name, err)
			}
			if d := time.Since(cancelled); d > time.Second {
				t.Errorf("%s: returned %v after cancellation", name, d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still waiting 5s after cancellation", name)
		}

		ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := call(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: got %v, want context.DeadlineExceeded", name, err)
		}

		ctx, cancel = context.WithCancel(context.Background())
		cancel()
		if err := call(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("%s, context already cancelled: got %v", name, err)
		}
	}
	if n := log.Count(); n != 1 {
		t.Errorf("%d derivations ran, want only the blocked one", n)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The limiter is whole again: a new verify runs.
	if match, _, err := h.Verify(context.Background(), "password", stored); err != nil || !match {
		t.Fatalf("after cancellations: Verify = %v, %v", match, err)
	}
}

// TestLimiterAlreadyCancelled checks a done context is refused even when
// the limiter has room.
func TestLimiterAlreadyCancelled(t *testing.T) {
	log := watchKDF(t)
	h := newHasher(t, WithPolicy(smallPolicy))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := h.Verify(ctx, "password", good); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if log.Count() != 0 {
		t.Fatal("hashed with a cancelled context")
	}
}

func TestLimiterWeight(t *testing.T) {
	l := newLimiter(100)
	for _, tc := range []struct{ in, want int64 }{{-5, 1}, {0, 1}, {1, 1}, {99, 99}, {100, 100}, {101, 100}, {1 << 40, 100}} {
		if got := l.weight(tc.in); got != tc.want {
			t.Errorf("weight(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
