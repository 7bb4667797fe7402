package gothstore

import (
	"errors"
	"strconv"
	"strings"

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
// secret: a token endpoint's response body is left out, and a message that
// contains one of tokens is withheld entirely.
func describe(err error, tokens []string) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := "token endpoint error"
		if re.Response != nil {
			msg += " (HTTP " + strconv.Itoa(re.Response.StatusCode) + ")"
		}
		if re.ErrorCode != "" && isCode(re.ErrorCode) {
			msg += ": " + re.ErrorCode
		}
		return msg
	}
	msg := err.Error()
	for _, t := range tokens {
		if t != "" && strings.Contains(msg, t) {
			return "provider error (message withheld: it contains a token)"
		}
	}
	return msg
}

// isCode reports whether s looks like an RFC 6749 error code (a short
// word of printable ASCII), which is safe to show.
func isCode(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
