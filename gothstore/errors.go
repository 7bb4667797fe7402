package gothstore

import (
	"errors"
	"net/url"
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
// secret: a token endpoint's response body is left out, so are the query,
// fragment and user of a failed request's URL, and a message that contains
// one of tokens (raw or percent-encoded) is withheld entirely.
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
	// A request that failed in transit (*url.Error) names its URL, and
	// some providers (tiktok) send the refresh token in its query: keep
	// the scheme, host and path only.
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		u, perr := url.Parse(ue.URL)
		if perr != nil {
			return "provider error (message withheld: it names an unparsable URL)"
		}
		u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
		msg = strings.ReplaceAll(msg, ue.URL, u.String())
	}
	for _, t := range tokens {
		if t == "" {
			continue
		}
		// The token as sent in a query or a form, or in a path.
		for _, form := range []string{t, url.QueryEscape(t), url.PathEscape(t)} {
			if strings.Contains(msg, form) {
				return "provider error (message withheld: it contains a token)"
			}
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
