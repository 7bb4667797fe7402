package gothstore

import (
	"context"
	"errors"
	"time"

	"github.com/markbates/goth"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/store"
)

// ExpiryDelta is how long before its stored expiry an access token counts
// as expired, so that it does not expire in flight (oauth2's own margin).
const ExpiryDelta = 10 * time.Second

// Refresh returns the stored account of (p.Name(), accountID) with a
// usable access token, refreshing it through p when it has expired.
//
// An access token with no stored expiry counts as valid. An expired one is
// refreshed with p.RefreshToken and the stored refresh token; the new
// access token, its expiry, the refresh token (the old one is kept if the
// provider returns none) and the ID token and scope (when the token
// response carries "id_token" or "scope") are written with
// [store.Store.CompareAndSwap]. If another refresh or a login changed the
// row first, Refresh discards its own tokens and returns the row as the
// winner stored it, without refreshing again. Likewise, if the provider
// refuses the refresh but the row meanwhile holds other, unexpired tokens
// (another replica refreshed first and the provider revoked the refresh
// token it used), Refresh returns that row.
//
// Errors: the store's (an error wrapping [accountvault.ErrNotFound] if the
// account is not linked); a *[RefreshError] wrapping [ErrNotRefreshable]
// if the token has expired and p offers no refresh or no refresh token is
// stored; a *[RefreshError] wrapping the provider's error (for a token
// endpoint's refusal, an *oauth2.RetrieveError with ErrorCode
// "invalid_grant" or another code) if the refresh fails and no other
// refresh succeeded meanwhile. On any
// error nothing is written. A write that fails after a successful refresh
// loses the new tokens: a provider that revoked the old refresh token on
// use then needs a new login.
//
// Refresh looks the account up by its provider identity only: it does not
// know which application user asks. A caller acting for a user must check
// that the returned Account's UserID is that user before using its tokens
// (or take accountID from that user's own rows, [store.Store.FindForUser]).
//
// Refresh is safe for concurrent use, as p and s are. See the package
// documentation for concurrent refreshes across replicas.
func Refresh(ctx context.Context, s *store.Store, p goth.Provider, accountID string) (accountvault.Account, error) {
	providerID := p.Name()
	cur, err := s.FindByProvider(ctx, providerID, accountID)
	if err != nil {
		return accountvault.Account{}, err
	}
	if !expired(&cur, time.Now()) {
		return cur, nil
	}
	if !p.RefreshTokenAvailable() || cur.RefreshToken.IsZero() {
		return accountvault.Account{}, &RefreshError{ProviderID: providerID, AccountID: accountID, Err: ErrNotRefreshable,
			msg: "the access token has expired and cannot be refreshed"}
	}
	if err := ctx.Err(); err != nil {
		return accountvault.Account{}, err // goth's refresh cannot be cancelled: do not start one
	}
	tok, err := p.RefreshToken(cur.RefreshToken.Reveal())
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = errNoAccessToken
	}
	if err != nil {
		rerr := newRefreshError(providerID, accountID, err, cur.RefreshToken.Reveal(), cur.AccessToken.Reveal())
		// Another refresh may have spent the refresh token first (a
		// provider that revokes it on use answers invalid_grant): if the
		// row now holds other tokens that are still valid, they are the
		// winner's.
		if now, ferr := s.FindByProvider(ctx, providerID, accountID); ferr == nil && changed(&cur, &now) && !expired(&now, time.Now()) {
			return now, nil
		}
		return accountvault.Account{}, rerr
	}

	next := cur
	next.AccessToken = accountvault.NewSecret(tok.AccessToken)
	next.AccessTokenExpiresAt = expiry(tok.Expiry)
	if tok.RefreshToken != "" && tok.RefreshToken != cur.RefreshToken.Reveal() {
		next.RefreshToken = accountvault.NewSecret(tok.RefreshToken)
		next.RefreshTokenExpiresAt = nil // the old token's expiry is not the new one's
	}
	if id, ok := tok.Extra("id_token").(string); ok && id != "" {
		next.IDToken = accountvault.NewSecret(id)
	}
	if scope, ok := tok.Extra("scope").(string); ok && scope != "" {
		next.Scope = scope
	}
	next.UpdatedAt = now()

	err = s.CompareAndSwap(ctx, cur, next)
	if errors.Is(err, accountvault.ErrConflict) {
		return s.FindByProvider(ctx, providerID, accountID)
	}
	if err != nil {
		return accountvault.Account{}, err
	}
	return next, nil
}

// changed reports whether b holds other tokens than a.
func changed(a, b *accountvault.Account) bool {
	return !a.AccessToken.Equal(b.AccessToken) || !a.RefreshToken.Equal(b.RefreshToken)
}

var errNoAccessToken = errors.New("token response has no access token")

// expired reports whether a's access token is missing, or expires within
// ExpiryDelta of now.
func expired(a *accountvault.Account, now time.Time) bool {
	if a.AccessToken.IsZero() {
		return true
	}
	return a.AccessTokenExpiresAt != nil && !now.Before(a.AccessTokenExpiresAt.Add(-ExpiryDelta))
}
