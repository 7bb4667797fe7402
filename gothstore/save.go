package gothstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/markbates/goth"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/store"
)

// maxAttempts bounds how often Save rereads a row that changed under it.
const maxAttempts = 3

// A SaveOption sets an optional field of the Account that [Save] writes.
type SaveOption func(*saveConfig)

type saveConfig struct {
	id       string
	scope    string
	setScope bool
}

// WithID sets the row id of a new link. It is ignored when the identity
// is already linked: the row keeps its id. Without it, a new row gets a
// random id ("acc_" and 26 base32 digits from crypto/rand).
func WithID(id string) SaveOption { return func(c *saveConfig) { c.id = id } }

// WithScope sets the granted scopes stored with the tokens. goth.User does
// not carry them; without this option a new row has none and a re-link
// keeps the stored ones.
func WithScope(scope string) SaveOption {
	return func(c *saveConfig) { c.scope, c.setScope = scope, true }
}

// Save stores the tokens of the goth login u as the link between the
// application's user userID and the identity (u.Provider, u.UserID), and
// returns the Account as stored. See the package documentation for which
// id is which.
//
// The Account's AccessToken, RefreshToken and IDToken are u's (sealed at
// rest by the store); AccessTokenExpiresAt is u.ExpiresAt, or nil when it
// is zero (unknown). If the identity is already linked to userID, its row
// is updated in place: it keeps its ID and CreatedAt, and, when u has no
// refresh token (providers such as Google send one on the first consent
// only), the stored refresh token and its expiry. The update is a
// compare-and-swap, so a refresh that lands meanwhile is never overwritten
// with an older refresh token.
//
// If the identity is linked to another user, Save writes nothing and
// returns an error wrapping [ErrLinkedToOtherUser]. An empty userID,
// u.Provider or u.UserID is an *[accountvault.InvalidAccountError], and so
// is an OAuth 1.0a login (u.AccessTokenSecret set). Store errors are
// returned as they are (errors.Is and errors.As see them).
func Save(ctx context.Context, s *store.Store, userID string, u goth.User, opts ...SaveOption) (accountvault.Account, error) {
	var c saveConfig
	for _, o := range opts {
		o(&c)
	}
	switch {
	case userID == "":
		return accountvault.Account{}, &accountvault.InvalidAccountError{Field: "UserID", Reason: "is empty (the application's user id)"}
	case u.Provider == "":
		return accountvault.Account{}, &accountvault.InvalidAccountError{Field: "ProviderID", Reason: "is empty (goth.User.Provider)"}
	case u.UserID == "":
		return accountvault.Account{}, &accountvault.InvalidAccountError{Field: "AccountID", Reason: "is empty (goth.User.UserID)"}
	case u.AccessTokenSecret != "":
		return accountvault.Account{}, &accountvault.InvalidAccountError{Field: "AccessToken", Reason: "is an OAuth 1.0a token with a token secret, which gothstore does not store"}
	}
	first := newLink(&c, userID, u)
	if err := first.Validate(); err != nil {
		return accountvault.Account{}, err // before any query: Postgres refuses a NUL in an argument
	}
	for range maxAttempts {
		cur, err := s.FindByProvider(ctx, u.Provider, u.UserID)
		if errors.Is(err, accountvault.ErrNotFound) {
			var linked bool
			cur, linked, err = linkFirst(ctx, s, first)
			if err != nil || linked {
				return cur, err
			}
			// Linked by another Save meanwhile: cur is that row.
		}
		if err != nil {
			return accountvault.Account{}, err
		}
		if cur.UserID != userID {
			return accountvault.Account{}, fmt.Errorf("gothstore: %s account %q: %w", u.Provider, u.UserID, ErrLinkedToOtherUser)
		}
		next := relink(&c, cur, u)
		err = s.CompareAndSwap(ctx, cur, next)
		if errors.Is(err, accountvault.ErrConflict) {
			continue // refreshed, re-linked or unlinked meanwhile: look again
		}
		if err != nil {
			return accountvault.Account{}, err
		}
		return next, nil
	}
	return accountvault.Account{}, fmt.Errorf("gothstore: %s account %q changed %d times while being saved: %w",
		u.Provider, u.UserID, maxAttempts, accountvault.ErrConflict)
}

// linkLeaseTTL bounds how long a crashed Save holds up the first link of
// its identity.
const linkLeaseTTL = 10 * time.Second

// linkFirst writes the first link a of an identity that had none. An
// Upsert alone would move a link that another Save wrote since the caller
// looked, user id included; so the first link is written under a lease on
// the identity (see [store.Store.AcquireLease]), after looking again. If
// the identity was linked meanwhile, linkFirst returns that row and
// linked false.
func linkFirst(ctx context.Context, s *store.Store, a accountvault.Account) (cur accountvault.Account, linked bool, err error) {
	name := "gothstore/link\x00" + a.ProviderID + "\x00" + a.AccountID
	var l *store.Lease
	for {
		l, err = s.AcquireLease(ctx, name, linkLeaseTTL)
		var held *store.LeaseHeldError
		if !errors.As(err, &held) {
			break
		}
		// Another Save is linking this identity: wait for it (polling),
		// then look again.
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return accountvault.Account{}, false, ctx.Err()
		case <-t.C:
		}
		cur, err = s.FindByProvider(ctx, a.ProviderID, a.AccountID)
		if err == nil {
			return cur, false, nil
		}
		if !errors.Is(err, accountvault.ErrNotFound) {
			return accountvault.Account{}, false, err
		}
	}
	if err != nil {
		return accountvault.Account{}, false, err
	}
	defer func() {
		// A release that fails leaves the lease to lapse after
		// linkLeaseTTL; the link itself is written.
		if rerr := s.ReleaseLease(ctx, l); rerr != nil && !errors.Is(rerr, accountvault.ErrConflict) {
			slog.Default().Warn("gothstore: releasing the link lease failed; it lapses by itself",
				"provider_id", a.ProviderID, "error", rerr)
		}
	}()
	cur, err = s.FindByProvider(ctx, a.ProviderID, a.AccountID)
	switch {
	case err == nil:
		return cur, false, nil
	case !errors.Is(err, accountvault.ErrNotFound):
		return accountvault.Account{}, false, err
	}
	cur, err = s.Upsert(ctx, a)
	return cur, err == nil, err
}

// newLink returns the Account of a first link.
func newLink(c *saveConfig, userID string, u goth.User) accountvault.Account {
	id := c.id
	if id == "" {
		id = randomID()
	}
	return accountvault.Account{
		ID: id, UserID: userID, ProviderID: u.Provider, AccountID: u.UserID,
		AccessToken:          accountvault.NewSecret(u.AccessToken),
		RefreshToken:         accountvault.NewSecret(u.RefreshToken),
		IDToken:              accountvault.NewSecret(u.IDToken),
		AccessTokenExpiresAt: expiry(u.ExpiresAt),
		Scope:                c.scope,
	}
}

// relink returns cur updated with the login u.
func relink(c *saveConfig, cur accountvault.Account, u goth.User) accountvault.Account {
	next := cur
	next.AccessToken = accountvault.NewSecret(u.AccessToken)
	next.IDToken = accountvault.NewSecret(u.IDToken)
	next.AccessTokenExpiresAt = expiry(u.ExpiresAt)
	if u.RefreshToken != "" {
		next.RefreshToken = accountvault.NewSecret(u.RefreshToken)
		next.RefreshTokenExpiresAt = nil // goth does not say
	}
	if c.setScope {
		next.Scope = c.scope
	}
	next.UpdatedAt = now()
	return next
}

// expiry returns t as a stored expiry: nil when t is zero (unknown).
func expiry(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Second) // what the store keeps
	return &t
}

// now returns the current time as the store keeps it.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// randomID returns a new row id: "acc_" and 128 random bits in base32.
func randomID() string { return "acc_" + rand.Text() }
