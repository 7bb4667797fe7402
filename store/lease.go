package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/accountvault/accountvault"
)

// A Lease is a claim on a name, held by one caller among every store over
// the same table (in this process or another replica) until it is released
// or it expires. [Store.AcquireLease] takes one; [Store.ReleaseLease]
// gives it back.
//
// A lease is advisory: it excludes only callers that ask for the same name
// and respect the answer. It changes no account row: readers and writers
// that do not ask for it are not affected.
type Lease struct {
	// Expires is when the lease lapses by the clock of the store that
	// took it: after it, any caller may take the name over. The holder
	// must finish the work the lease guards before then.
	Expires time.Time

	key   string // the metadata name
	value []byte // the value written: a random holder id and Expires
}

// LeaseHeldError is the error of [Store.AcquireLease] when another holder
// has the name. It wraps [accountvault.ErrConflict].
type LeaseHeldError struct {
	// Expires is when the other holder's lease lapses, by the clock of
	// the store that took it; the zero time if it could not be read.
	Expires time.Time
}

func (e *LeaseHeldError) Error() string {
	if e.Expires.IsZero() {
		return "store: lease is held by another caller"
	}
	return "store: lease is held by another caller until " + e.Expires.UTC().Format(time.RFC3339Nano)
}

func (e *LeaseHeldError) Unwrap() error { return accountvault.ErrConflict }

// leasePrefix starts the metadata names of leases: the store's own
// metadata names never start with it.
const leasePrefix = "lease/"

// leaseVersion starts a lease's stored value.
const leaseVersion = "lease1"

// AcquireLease takes the lease on name for ttl, if no caller holds it or
// the last holder's lease has expired: of concurrent callers, across every
// store over the table, exactly one succeeds. The others get a
// *[LeaseHeldError] wrapping [accountvault.ErrConflict].
//
// The lease is kept in the backend's metadata ([accountvault.Metadata])
// under a name derived from name (a SHA-256 hash: name may be any string
// and is not stored), with a random holder id and the expiry time. A
// backend that keeps no metadata gives an error wrapping
// [errors.ErrUnsupported]. A ttl that is not positive, or an empty name,
// is an error wrapping [accountvault.ErrInvalidArgument].
//
// Expiry is judged by each store's own clock, so the replicas' clocks must
// agree to well within ttl. A holder that crashes leaves its lease behind
// until it expires, and then the next caller takes it over; a holder that
// is still working after its lease expired may find that another caller
// took it over, and [Store.ReleaseLease] then tells it.
//
// Callers that take the same name must use the same ttl: a store honours
// a lease for at most ttl (its caller's) from when it first saw it held,
// whatever expiry the lease claims, so that a record written by a database
// writer, or by a replica whose clock was far ahead, delays the name by at
// most ttl instead of until the expiry it claims. A ttl whose expiry
// cannot be stored (after the year 2262) is an error wrapping
// [accountvault.ErrInvalidArgument].
func (s *Store) AcquireLease(ctx context.Context, name string, ttl time.Duration) (*Lease, error) {
	if name == "" {
		return nil, fmt.Errorf("store: AcquireLease: %w: empty name", accountvault.ErrInvalidArgument)
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("store: AcquireLease: %w: ttl %v is not positive", accountvault.ErrInvalidArgument, ttl)
	}
	if s.meta == nil {
		return nil, fmt.Errorf("store: AcquireLease: the backend keeps no metadata: %w", errors.ErrUnsupported)
	}
	if exp := time.Now().Add(ttl); !time.Unix(0, exp.UnixNano()).Equal(exp) {
		return nil, fmt.Errorf("store: AcquireLease: %w: ttl %v ends after the year 2262", accountvault.ErrInvalidArgument, ttl)
	}
	key := leaseKey(name)
	old, err := s.meta.Meta(ctx, key)
	switch {
	case errors.Is(err, accountvault.ErrNotFound):
		old = nil
	case err != nil:
		return nil, fmt.Errorf("store: AcquireLease: %w", err)
	default:
		// A value that does not parse is not a lease this package
		// wrote: it guards nothing, and is taken over at once.
		if exp, ok := parseLease(old); ok {
			now := time.Now()
			if lapse := s.leases.seen(key, old, now).Add(ttl); lapse.Before(exp) {
				exp = lapse
			}
			if now.Before(exp) {
				return nil, &LeaseHeldError{Expires: exp}
			}
		}
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("store: AcquireLease: %w", err)
	}
	l := &Lease{Expires: time.Now().Add(ttl), key: key}
	l.value = fmt.Appendf(nil, "%s %s %d", leaseVersion, hex.EncodeToString(id[:]), l.Expires.UnixNano())
	if err := s.meta.SwapMeta(ctx, key, old, l.value); err != nil {
		if errors.Is(err, accountvault.ErrConflict) {
			// Another caller took it between the read and the swap.
			return nil, &LeaseHeldError{}
		}
		return nil, fmt.Errorf("store: AcquireLease: %w", err)
	}
	s.leases.forget(key)
	return l, nil
}

// maxSightings bounds the leases a store remembers having seen held.
const maxSightings = 4096

// leaseSightings remembers, per lease name, the value a store last found
// held and when it first saw it: AcquireLease honours a lease for at most
// its ttl from then, whatever expiry the value claims.
type leaseSightings struct {
	mu sync.Mutex
	m  map[string]sighting
}

type sighting struct {
	value string
	at    time.Time
}

// seen returns when value was first seen held under key, recording now if
// it was not.
func (ls *leaseSightings) seen(key string, value []byte, now time.Time) time.Time {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if v, ok := ls.m[key]; ok && v.value == string(value) {
		return v.at
	}
	if ls.m == nil || len(ls.m) >= maxSightings {
		// Forgetting only makes a lease last longer (up to its own
		// expiry), never shorter.
		ls.m = map[string]sighting{}
	}
	ls.m[key] = sighting{value: string(value), at: now}
	return now
}

func (ls *leaseSightings) forget(key string) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	delete(ls.m, key)
}

// ReleaseLease gives l back, so that the next caller need not wait for it
// to expire. If l expired and another caller took the name over (or the
// lease is gone), ReleaseLease changes nothing and returns an error
// wrapping [accountvault.ErrConflict]: the work l guarded may have
// overlapped with the new holder's.
func (s *Store) ReleaseLease(ctx context.Context, l *Lease) error {
	if l == nil || l.key == "" {
		return fmt.Errorf("store: ReleaseLease: %w: not a lease from AcquireLease", accountvault.ErrInvalidArgument)
	}
	if s.meta == nil {
		return fmt.Errorf("store: ReleaseLease: the backend keeps no metadata: %w", errors.ErrUnsupported)
	}
	if err := s.meta.SwapMeta(ctx, l.key, l.value, nil); err != nil {
		return fmt.Errorf("store: ReleaseLease: %w", err)
	}
	return nil
}

// leaseKey returns the metadata name of the lease on name: within the
// backends' 64-byte limit for any name, and free of bytes they refuse.
func leaseKey(name string) string {
	h := sha256.Sum256([]byte(name))
	return leasePrefix + base64.RawURLEncoding.EncodeToString(h[:])
}

// parseLease returns the expiry of a stored lease value.
func parseLease(v []byte) (time.Time, bool) {
	f := bytes.Fields(v)
	if len(f) != 3 || string(f[0]) != leaseVersion {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}
