package gothstore

import (
	"errors"
	"strconv"

	"github.com/accountvault/accountvault/internal/redact"
	"golang.org/x/oauth2"
)

var (
	// ErrLinkedToOtherUser: Save was asked to link an identity that is
	// already linked to another application user. Nothing was written.
	ErrLinkedToOtherUser = errors.New("gothstore: identity is linked to another user")

	// ErrNotRefreshable: the stored access token has expired and cannot be
	// refreshed, because the provider offers no refresh
	// (RefreshTokenAvailable is false) or no refresh token is stored. The
	// user has to log in again.
	ErrNotRefreshable = errors.New("gothstore: access token expired and cannot be refreshed")
)

// RefreshError reports that the provider refused or failed a token
// refresh. Nothing was written. It wraps the provider's error: an
// *[oauth2.RetrieveError] (errors.As) when the token endpoint answered with
// an error, such as "invalid_grant" for a revoked or spent refresh token.
//
// Its message names the provider, the account and, for a token endpoint
// error, the HTTP status and OAuth error code; it never contains the
// endpoint's response body or any token.
type RefreshError struct {
	ProviderID string // the goth provider's name
	AccountID  string // the provider's subject (Account.AccountID)
	Err        error  // the provider's error

	msg string
}

func newRefreshError(providerID, accountID string, err error, tokens ...string) *RefreshError {
	return &RefreshError{ProviderID: providerID, AccountID: accountID, Err: err, msg: describe(err, tokens)}
}

func (e *RefreshError) Error() string {
	return "gothstore: refreshing the " + e.ProviderID + " token of account " + strconv.Quote(e.AccountID) + ": " + e.msg
}

func (e *RefreshError) Unwrap() error { return e.Err }

// describe returns err's message without the parts that may carry a
// secret: a token endpoint's response body is left out, so are the query,
// fragment and user of a failed request's URL, and a message that contains
// one of tokens (raw or percent-encoded) is withheld entirely.
func describe(err error, tokens []string) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return redact.TokenEndpoint(re.Response, re.ErrorCode)
	}
	return redact.Message(err, tokens...)
}
