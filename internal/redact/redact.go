// Package redact makes the text of an error from an OAuth 2.0 provider or
// token endpoint safe to show: it is used by the integration modules
// (gothstore, oauth2store), whose errors must not carry a token.
package redact

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Withheld is the text Message returns for a message that contains a
// token.
const Withheld = "provider error (message withheld: it contains a token)"

// Message returns err's text without the parts that may carry a secret:
// the user, query and fragment of a failed request's URL (a *url.Error
// names it, and some providers send tokens in the query), and, if the text
// then still contains one of tokens as sent raw, in a query or form, or in
// a path, [Withheld] instead. Empty tokens are ignored.
func Message(err error, tokens ...string) string {
	msg := err.Error()
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
		for _, form := range []string{t, url.QueryEscape(t), url.PathEscape(t)} {
			if strings.Contains(msg, form) {
				return Withheld
			}
		}
	}
	return msg
}

// IsCode reports whether s looks like an RFC 6749 error code (a short
// word of printable ASCII), which is safe to show.
func IsCode(s string) bool {
	if s == "" || len(s) > 64 {
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

// TokenEndpoint describes a token endpoint's refusal by its HTTP status
// (resp may be nil) and its error code if that looks like one ([IsCode]):
// never by its body, which may echo the request, refresh token included.
func TokenEndpoint(resp *http.Response, code string) string {
	msg := "token endpoint error"
	if resp != nil {
		msg += " (HTTP " + strconv.Itoa(resp.StatusCode) + ")"
	}
	if IsCode(code) {
		msg += ": " + code
	}
	return msg
}
