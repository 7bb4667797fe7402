package redact_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/accountvault/accountvault/internal/redact"
)

func TestMessage(t *testing.T) {
	const tok = "1//0gAbC+dEf/gh=ij"
	for _, c := range []struct {
		name string
		err  error
		want string // "" : the message must not contain tok in any form
	}{
		{"plain", errors.New("connection refused"), "connection refused"},
		{"raw token", errors.New("refresh of " + tok + " failed"), redact.Withheld},
		{"query-escaped token", fmt.Errorf("bad body: refresh_token=%s", url.QueryEscape(tok)), redact.Withheld},
		{"path-escaped token", fmt.Errorf("GET /t/%s", url.PathEscape(tok)), redact.Withheld},
		{"URL query dropped", &url.Error{Op: "Post", URL: "https://u:p@idp.example/token?refresh_token=" + url.QueryEscape(tok) + "#f", Err: errors.New("connection refused")},
			`Post "https://idp.example/token": connection refused`},
	} {
		got := redact.Message(c.err, tok, "")
		if holdsToken(got, tok) {
			t.Errorf("%s: the message holds the token", c.name)
			continue // and is not printed
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// holdsToken reports whether msg contains tok in one of the forms Message
// looks for.
func holdsToken(msg, tok string) bool {
	for _, form := range []string{tok, url.QueryEscape(tok), url.PathEscape(tok)} {
		if strings.Contains(msg, form) {
			return true
		}
	}
	return false
}

func TestIsCode(t *testing.T) {
	for s, want := range map[string]bool{
		"invalid_grant": true, "temporarily_unavailable": true, "a.b-c": true,
		"": false, "has space": false, "<html>": false, strings.Repeat("a", 65): false,
	} {
		if got := redact.IsCode(s); got != want {
			t.Errorf("IsCode(%q) = %t, want %t", s, got, want)
		}
	}
}

func TestTokenEndpoint(t *testing.T) {
	for i, c := range []struct {
		resp *http.Response
		code string
		want string
	}{
		{nil, "", "token endpoint error"},
		{&http.Response{StatusCode: 400}, "invalid_grant", "token endpoint error (HTTP 400): invalid_grant"},
		{&http.Response{StatusCode: 502}, "<html>refresh_token=secret</html>", "token endpoint error (HTTP 502)"},
	} {
		got := redact.TokenEndpoint(c.resp, c.code)
		if strings.Contains(got, "secret") {
			t.Errorf("case %d: the message holds the code's token", i)
			continue // and is not printed
		}
		if got != c.want {
			t.Errorf("case %d: TokenEndpoint = %q, want %q", i, got, c.want)
		}
	}
}
