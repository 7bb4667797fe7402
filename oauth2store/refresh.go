package oauth2store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/redact"
	"github.com/accountvault/accountvault/store"
)

// maxSwaps bounds how often a refresh's result is written again over a
// row whose other fields changed meanwhile (see store).
const maxSwaps = 5

// maxTransient bounds how often a refresh's result is written again after
// a transient database error (a cut connection, a failover), within the
// time the lease leaves for storing it.
const maxTransient = 5

// counters count what the refresh path did; tests read them.
type counters struct {
	flights      atomic.Int64 // shared reads (one per group of concurrent callers)
	refreshes    atomic.Int64 // token requests made
	leaseWaits   atomic.Int64 // refreshes that found the lease held and waited
	fromOther    atomic.Int64 // waits that ended with another caller's token
	underLease   atomic.Int64 // leases taken to find another caller's token already stored
	casConflicts atomic.Int64 // swaps that lost and were resolved by a re-read
	leaseLost    atomic.Int64 // leases found taken over at release

	transientRetries atomic.Int64 // swaps written again after a transient error
}

func (src *Source) count(f func(c *counters)) {
	if src.o.counters != nil {
		f(src.o.counters)
	}
}

// leaseName names the refresh lease of an account.
func leaseName(provider, account string) string {
	return "oauth2store refresh " + strconv.Quote(provider) + " " + strconv.Quote(account)
}

// fetch returns the stored token if it is valid, and otherwise gets the
// refresh lease and refreshes it, or waits for the holder of the lease to
// store a new one.
func (src *Source) fetch(base context.Context) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(base, 2*src.o.leaseTTL)
	defer cancel()
	src.count(func(c *counters) { c.flights.Add(1) })
	a, err := src.read(ctx)
	if err != nil {
		return nil, err
	}
	if !expired(a.AccessToken.Reveal(), expiry(&a), src.o.expiryDelta) {
		return token(&a), nil
	}
	seen := a.AccessToken // the expired token
	waited := false
	for {
		if src.o.beforeLease != nil {
			src.o.beforeLease()
		}
		l, err := src.s.AcquireLease(ctx, leaseName(src.provider, src.account), src.o.leaseTTL)
		if err == nil {
			// The refresh's time is the lease's, not what is left of
			// the wait: a token request cut short by the wait's
			// deadline may have spent the refresh token, and an
			// answer not stored for lack of time loses the grant.
			return src.refresh(base, l, seen)
		}
		var held *store.LeaseHeldError
		if !errors.As(err, &held) {
			return nil, fmt.Errorf("oauth2store: taking the refresh lease of %s: %w", src.name(), err)
		}
		if !waited {
			waited = true
			src.count(func(c *counters) { c.leaseWaits.Add(1) })
		}
		// Another caller is refreshing: wait for its token.
		t := time.NewTimer(src.o.poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("oauth2store: waiting for another replica's refresh of %s: %w", src.name(), context.Cause(ctx))
		case <-t.C:
		}
		if a, err = src.read(ctx); err != nil {
			return nil, err
		}
		if src.usable(&a, seen) {
			src.count(func(c *counters) { c.fromOther.Add(1) })
			return token(&a), nil
		}
	}
}

// usable reports whether a's access token can be returned by a caller
// that found the token seen expired: it is valid, or it is another token
// (someone refreshed meanwhile) that has not expired yet. Refreshing
// again would spend a second refresh on one expiry.
func (src *Source) usable(a *accountvault.Account, seen accountvault.Secret) bool {
	exp := expiry(a)
	if !expired(a.AccessToken.Reveal(), exp, src.o.expiryDelta) {
		return true
	}
	return !a.AccessToken.Equal(seen) && !expired(a.AccessToken.Reveal(), exp, 0)
}

// refresh runs under the lease l: it reads the account again (the last
// holder may have stored a token just before the lease was free), asks
// the token endpoint, and stores the result. It releases l.
//
// base has no deadline: the read and the token request end with the first
// half of the lease's life; once the token endpoint has answered, storing
// its answer (and releasing l) has another lease life, even if the lease
// lapses meanwhile: a rotated refresh token that is not stored is lost.
func (src *Source) refresh(base context.Context, l *store.Lease, seen accountvault.Secret) (*oauth2.Token, error) {
	ctx, cancel := context.WithDeadline(base, l.Expires.Add(-src.o.leaseTTL/2))
	defer cancel()
	defer func() {
		// A release that fails changes nothing for correctness: the
		// row is what callers poll, and the lease lapses by itself. It
		// is logged, not returned: the caller's token is good.
		rctx, cancel := context.WithTimeout(base, src.o.leaseTTL)
		defer cancel()
		switch err := src.s.ReleaseLease(rctx, l); {
		case errors.Is(err, accountvault.ErrConflict):
			// Taken over after it lapsed: nothing to release.
			src.count(func(c *counters) { c.leaseLost.Add(1) })
		case err != nil:
			src.logger().Warn("oauth2store: releasing the refresh lease failed; it lapses by itself",
				"provider_id", src.provider, "error", err)
		}
	}()
	a, err := src.read(ctx)
	if err != nil {
		return nil, err
	}
	if src.usable(&a, seen) {
		src.count(func(c *counters) { c.underLease.Add(1) })
		return token(&a), nil
	}
	if a.RefreshToken.IsZero() {
		return nil, fmt.Errorf("account %s: %w", src.name(), ErrNoRefreshToken)
	}

	// The token request must end while the lease holds, with time left
	// to store its result: otherwise another replica could take the
	// lease over and spend the same refresh token. ctx ends at half the
	// lease's life.
	src.count(func(c *counters) { c.refreshes.Add(1) })
	t, err := src.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: a.RefreshToken.Reveal()}).Token()
	if err != nil {
		return nil, &refreshError{name: src.name(), err: err, msg: describe(err, a.RefreshToken.Reveal(), a.AccessToken.Reveal())}
	}
	if t.AccessToken == "" {
		return nil, fmt.Errorf("oauth2store: refreshing the token of %s: the server returned no access token", src.name())
	}
	ctx, cancel = context.WithTimeout(base, src.o.leaseTTL)
	defer cancel()

	// Whether the server rotated the refresh token: only then was the
	// stored one spent, and the result surely the newest.
	rotated := t.RefreshToken != "" && t.RefreshToken != a.RefreshToken.Reveal()
	transient := 0
	for swaps := 0; swaps < maxSwaps; {
		n := refreshed(&a, t)
		err := src.s.CompareAndSwap(ctx, a, n)
		if err == nil {
			return token(&n), nil
		}
		if errors.Is(err, accountvault.ErrTransient) && transient < maxTransient {
			// The refresh token may be spent already: losing the
			// result would lose the grant. The write may or may not
			// have landed; write again. If it had, the swap now
			// conflicts, and the re-read below finds this refresh's
			// tokens in the row.
			transient++
			src.count(func(c *counters) { c.transientRetries.Add(1) })
			t := time.NewTimer(time.Duration(transient) * 50 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("oauth2store: storing the refreshed token of %s: %w", src.name(), err)
			case <-t.C:
			}
			continue
		}
		if !errors.Is(err, accountvault.ErrConflict) {
			return nil, fmt.Errorf("oauth2store: storing the refreshed token of %s: %w", src.name(), err)
		}
		swaps++
		// The row changed since it was read: a write outside the
		// lease (a re-link, another application's write).
		src.count(func(c *counters) { c.casConflicts.Add(1) })
		cur, err := src.read(ctx)
		if err != nil {
			return nil, err
		}
		if !cur.RefreshToken.Equal(a.RefreshToken) {
			// Someone stored another refresh token: it is newer than
			// the one this refresh spent, and the row is theirs.
			if src.usable(&cur, seen) {
				return token(&cur), nil
			}
			return nil, fmt.Errorf("oauth2store: account %s was rewritten during its refresh: %w", src.name(), accountvault.ErrConflict)
		}
		if !rotated && !cur.AccessToken.Equal(a.AccessToken) && src.usable(&cur, seen) {
			// The server keeps the refresh token, so this refresh
			// spent nothing: another refresh with it (a replica that
			// took the lease over after this one's lapsed) or a
			// re-link stored this access token, no older than ours.
			return token(&cur), nil
		}
		// The row still holds the refresh token this refresh spent:
		// what the server returned is the newest pair. Write it over
		// the changed row.
		a = cur
	}
	return nil, fmt.Errorf("oauth2store: storing the refreshed token of %s: the row kept changing: %w", src.name(), accountvault.ErrConflict)
}

// refreshed returns a with the tokens of the refresh response t: the
// access token and its expiry; the refresh token, unless t has none (the
// server keeps the old one valid); the scope and the ID token if t has
// them ("scope", "id_token"); and the refresh token's expiry if t has
// "refresh_token_expires_in", else none if the refresh token changed.
func refreshed(a *accountvault.Account, t *oauth2.Token) accountvault.Account {
	n := *a
	n.UpdatedAt = time.Time{}
	n.AccessToken = accountvault.NewSecret(t.AccessToken)
	n.AccessTokenExpiresAt = nil
	if !t.Expiry.IsZero() {
		e := t.Expiry.Round(0).Truncate(time.Second) // as stored
		n.AccessTokenExpiresAt = &e
	}
	if t.RefreshToken != "" && t.RefreshToken != a.RefreshToken.Reveal() {
		n.RefreshToken = accountvault.NewSecret(t.RefreshToken)
		n.RefreshTokenExpiresAt = nil
	}
	if secs, ok := seconds(t.Extra("refresh_token_expires_in")); ok && secs > 0 {
		e := time.Now().Add(time.Duration(secs) * time.Second).Truncate(time.Second)
		n.RefreshTokenExpiresAt = &e
	}
	if s, ok := t.Extra("scope").(string); ok && s != "" {
		n.Scope = s
	}
	if id, ok := t.Extra("id_token").(string); ok && id != "" {
		n.IDToken = accountvault.NewSecret(id)
	}
	return n
}

// seconds reads a JSON number (or a numeric string, as some providers
// send) of seconds.
func seconds(v any) (int64, bool) {
	switch v := v.(type) {
	case float64:
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func expiry(a *accountvault.Account) time.Time {
	if a.AccessTokenExpiresAt == nil {
		return time.Time{}
	}
	return *a.AccessTokenExpiresAt
}

// read returns the account.
func (src *Source) read(ctx context.Context) (accountvault.Account, error) {
	a, err := src.s.FindByProvider(ctx, src.provider, src.account)
	if err != nil {
		return accountvault.Account{}, fmt.Errorf("oauth2store: reading account %s: %w", src.name(), err)
	}
	return a, nil
}

func (src *Source) name() string {
	return strconv.Quote(src.provider) + "/" + strconv.Quote(src.account)
}

// refreshError is a failed token request. Its text leaves out what may
// carry a secret: a token endpoint's response body (an error page may echo
// the request, refresh token included) and any message holding a token.
// errors.As reaches the underlying error.
type refreshError struct {
	name, msg string
	err       error
}

func (e *refreshError) Error() string {
	return "oauth2store: refreshing the token of " + e.name + ": " + e.msg
}

func (e *refreshError) Unwrap() error { return e.err }

// describe returns err's message without the parts that may carry a
// secret: a token endpoint's response body, and what [redact.Message]
// leaves out.
func describe(err error, tokens ...string) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return redact.TokenEndpoint(re.Response, re.ErrorCode)
	}
	return redact.Message(err, tokens...)
}
