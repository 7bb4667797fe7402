package store_test

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// TestLeaseTTLOverflow: a ttl whose expiry is past what a lease value
// holds (the year 2262 in Unix nanoseconds; math.MaxInt64 is the usual
// "for ever") was stored as an expiry in the past, so the next caller took
// the lease at once: two holders. It must be refused, or held.
func TestLeaseTTLOverflow(t *testing.T) {
	env := avtest.New(t, "sqlite")
	k := genKeyring(t)
	a := newStore(t, env, k)
	b := newStore(t, &avtest.Env{Backend: env.Reopen(t)}, k)
	for _, ttl := range []time.Duration{math.MaxInt64, 250 * 365 * 24 * time.Hour} {
		name := fmt.Sprint("forever ", ttl)
		l, err := a.AcquireLease(ctx, name, ttl)
		if errors.Is(err, accountvault.ErrInvalidArgument) {
			continue
		}
		if err != nil {
			t.Fatalf("AcquireLease(%v): %v", ttl, err)
		}
		var held *store.LeaseHeldError
		if l2, err := b.AcquireLease(ctx, name, time.Minute); !errors.As(err, &held) {
			t.Errorf("after AcquireLease(%v), another caller got (%v, %v), want a LeaseHeldError", ttl, l2 != nil, err)
		}
		if err := a.ReleaseLease(ctx, l); err != nil && !errors.Is(err, accountvault.ErrConflict) {
			t.Fatal(err)
		}
	}
}

// TestLeaseForgedExpiry: a lease record claiming an expiry far away (a
// database writer's, or a replica's whose clock ran ahead) held the name
// until then: every caller was refused for as long as the record said.
// It must be honoured for at most the caller's ttl from when its store
// first saw it.
func TestLeaseForgedExpiry(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		a := newStore(t, env, k)
		meta, ok := env.Backend.(accountvault.Metadata)
		if !ok {
			t.Fatal("the backend keeps no metadata")
		}
		// The forged record goes where a real lease is: take one, then
		// rewrite its value.
		l, err := a.AcquireLease(ctx, "forged", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		key := store.LeaseKey(l)
		forged := fmt.Appendf(nil, "lease1 00112233445566778899aabbccddeeff %d", time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		if err := meta.SwapMeta(ctx, key, store.LeaseValue(l), forged); err != nil {
			t.Fatal(err)
		}
		b := newStore(t, &avtest.Env{Backend: env.Reopen(t)}, k)
		const ttl = 200 * time.Millisecond
		var held *store.LeaseHeldError
		if _, err := b.AcquireLease(ctx, "forged", ttl); !errors.As(err, &held) {
			t.Fatalf("AcquireLease of a freshly seen lease: %v, want a LeaseHeldError", err)
		}
		if d := time.Until(held.Expires); d > ttl {
			t.Errorf("LeaseHeldError.Expires is %v away, want at most the ttl", d)
		}
		time.Sleep(ttl + 50*time.Millisecond)
		lb, err := b.AcquireLease(ctx, "forged", ttl)
		if err != nil {
			t.Fatalf("AcquireLease a ttl after first seeing a forged lease: %v", err)
		}
		if err := b.ReleaseLease(ctx, lb); err != nil {
			t.Fatal(err)
		}
	})
}
