// Package gothstore keeps the tokens of a [github.com/markbates/goth] login
// in an accountvault store, sealed at rest, and refreshes them through the
// goth provider that issued them.
//
// In the common case, an auth server's OAuth callback does:
//
//	gu, err := gothic.CompleteUserAuth(w, r)          // a goth.User
//	acct, err := gothstore.Save(ctx, s, userID, gu)   // userID: the app's own user
//
// and, before calling the provider's API on the user's behalf:
//
//	acct, err := gothstore.Refresh(ctx, s, provider, acct.AccountID)
//	use(acct.AccessToken.Reveal())
//
// # Which id is which
//
// Three ids meet here, and they are easy to confuse:
//
//   - the application's user id (the userID argument of [Save]) is
//     Account.UserID: the user of your auth server that the identity is
//     linked to. goth does not know it.
//   - goth.User.UserID is the provider's subject for the user (GitHub's
//     numeric id, an OpenID Connect "sub"); it becomes Account.AccountID,
//     and goth.User.Provider (the provider's [goth.Provider.Name])
//     becomes Account.ProviderID. The pair (ProviderID, AccountID) names
//     the row: a second login with the same identity updates it.
//   - Account.ID is the row's own id: chosen at the first link ([WithID],
//     or a random one) and kept on every later login and refresh.
//
// [Save] refuses, with [ErrLinkedToOtherUser], to move an identity that is
// already linked to one application user over to another: a login must not
// take over someone else's link. Unlink it first if that is what you mean.
//
// # Refreshing
//
// [Refresh] reads the stored account and, when its access token has
// expired (or expires within [ExpiryDelta]), calls the provider's
// RefreshToken and stores the result with [store.Store.CompareAndSwap].
// Of two concurrent refreshes of one account, the first to write wins; the
// other returns the winner's tokens and discards its own. If the provider
// refuses the second refresh because the first one spent the refresh token,
// the second also returns the winner's tokens. That is enough for
// providers that let a refresh token be used again or simply revoke it on
// use. It is not enough for providers that detect reuse of a spent refresh
// token and then revoke every token of the grant (the OAuth 2.0 Security
// Best Current Practice recommends it): two replicas refreshing at once
// present the same refresh token twice, and the winner's new tokens die
// with it. For those, and for applications with many replicas, use
// github.com/accountvault/accountvault/oauth2store, whose TokenSource
// leases the refresh across replicas so that only one of them calls the
// provider.
//
// goth's RefreshToken takes no context: ctx bounds the store's reads and
// writes, and is checked before the provider is called, but not the HTTP
// request itself. Give the provider an HTTPClient with a timeout.
//
// OAuth 1.0a logins (a goth.User with an AccessTokenSecret, such as the
// twitter provider's) are refused: an Account has no place for the token
// secret.
//
// This package lives in its own Go module so that applications that do
// not use goth never download it.
package gothstore
