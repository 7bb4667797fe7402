package gothstore

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

func TestDescribeWithholdsTokens(t *testing.T) {
	const tok = "rt-secret-value-123"
	re := &oauth2.RetrieveError{
		Response:         &http.Response{StatusCode: http.StatusBadRequest},
		Body:             []byte(`{"error":"invalid_grant","error_description":"` + tok + `"}`),
		ErrorCode:        "invalid_grant",
		ErrorDescription: tok,
	}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"endpoint error", re, "token endpoint error (HTTP 400): invalid_grant"},
		{"wrapped endpoint error", fmt.Errorf("provider: %w", re), "token endpoint error (HTTP 400): invalid_grant"},
		{"code that is not a code", &oauth2.RetrieveError{ErrorCode: "bad " + tok}, "token endpoint error"},
		{"message with a token", errors.New("refresh of " + tok + " failed"), "provider error (message withheld: it contains a token)"},
		{"message without one", errors.New("connection refused"), "connection refused"},
	} {
		got := describe(c.err, []string{tok, ""})
		if strings.Contains(got, tok) {
			t.Errorf("%s: message contains the token", c.name)
			continue // and is not printed
		}
		if got != c.want {
			t.Errorf("%s: message %q, want %q", c.name, got, c.want)
		}
	}
	e := newRefreshError("gitlab", "42", re, tok)
	if !errors.Is(e, re) || strings.Contains(e.Error(), tok) {
		t.Errorf("RefreshError: unwraps to the RetrieveError %v, message clean %v", errors.Is(e, re), !strings.Contains(e.Error(), tok))
	}
}
