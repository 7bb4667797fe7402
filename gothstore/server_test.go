package gothstore_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/markbates/goth"
	"github.com/markbates/goth/providers/gitlab"
)

// tokenServer is an OAuth 2.0 authorization server on 127.0.0.1 with the
// endpoints goth's gitlab provider calls: the token endpoint
// (authorization_code and refresh_token grants, RFC 6749 sections 4.1.3
// and 6) and the user profile. Tokens are random; refresh tokens it did
// not issue, or revoked, get "invalid_grant", with the refused token echoed
// in error_description as a careless server might.
type tokenServer struct {
	*httptest.Server

	subject int // the profile's id: goth.User.UserID

	mu        sync.Mutex
	valid     map[string]bool // refresh tokens that may be used
	rotate    bool            // issue a new refresh token on refresh
	revoke    bool            // the old refresh token stops working on use
	idToken   bool            // include an id_token in refresh responses
	scope     string          // "scope" of refresh responses, if set
	refreshes int             // refresh grants answered successfully
	seen      []string        // refresh tokens presented, in order
	issued    []string        // access tokens issued, in order

	// hold, if positive, makes the first hold refresh requests wait
	// until all of them have arrived, so that they are in flight together.
	// beforeLate, if set, runs before every refresh request but the first
	// is answered (after the hold).
	hold       int
	arrived    int
	release    chan struct{}
	beforeLate func()
}

// newTokenServer starts a tokenServer, stopped when t ends.
func newTokenServer(t testing.TB) *tokenServer {
	ts := startTokenServer()
	t.Cleanup(ts.Close)
	return ts
}

// startTokenServer starts a tokenServer; the caller closes it.
func startTokenServer() *tokenServer {
	ts := &tokenServer{subject: 4242, valid: map[string]bool{}, release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", ts.token)
	mux.HandleFunc("GET /api/v4/user", ts.profile)
	ts.Server = httptest.NewServer(mux)
	return ts
}

// provider returns goth's real gitlab provider pointed at ts.
func (ts *tokenServer) provider() *gitlab.Provider {
	p := gitlab.NewCustomisedURL("client-id", "client-secret", "http://app.test/callback",
		ts.URL+"/oauth/authorize", ts.URL+"/oauth/token", ts.URL+"/api/v4/user", "read_user")
	p.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	return p
}

// login runs goth's authorization-code flow against ts, as gothic does in
// an OAuth callback, and returns the goth.User.
func (ts *tokenServer) login(t testing.TB, p goth.Provider) goth.User {
	t.Helper()
	sess, err := p.BeginAuth("state")
	if err != nil {
		t.Fatalf("BeginAuth: %v", err)
	}
	if _, err := sess.Authorize(p, url.Values{"code": {"the-code"}}); err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	u, err := p.FetchUser(sess)
	if err != nil {
		t.Fatalf("FetchUser: %v", err)
	}
	return u
}

func (ts *tokenServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	if id, secret, ok := r.BasicAuth(); !(ok && id == "client-id" && secret == "client-secret") &&
		!(r.PostForm.Get("client_id") == "client-id" && r.PostForm.Get("client_secret") == "client-secret") {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		if r.PostForm.Get("code") != "the-code" {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown code")
			return
		}
		ts.mu.Lock()
		resp := ts.issue(true)
		ts.mu.Unlock()
		writeJSON(w, resp)
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		ts.mu.Lock()
		ts.seen = append(ts.seen, rt)
		ts.arrived++
		order := ts.arrived
		if order == ts.hold {
			close(ts.release)
		}
		hold, beforeLate := ts.hold, ts.beforeLate
		ts.mu.Unlock()
		if hold > 0 && order <= hold {
			select {
			case <-ts.release:
			case <-time.After(20 * time.Second):
				http.Error(w, "held refresh requests never all arrived", http.StatusServiceUnavailable)
				return
			}
		}
		if order > 1 && beforeLate != nil {
			beforeLate()
		}
		ts.mu.Lock()
		if !ts.valid[rt] {
			ts.mu.Unlock()
			oauthError(w, http.StatusBadRequest, "invalid_grant", "refresh token "+rt+" is invalid or revoked")
			return
		}
		if ts.revoke {
			delete(ts.valid, rt)
		}
		ts.mu.Unlock()
		ts.mu.Lock()
		resp := ts.issue(ts.rotate)
		if ts.idToken {
			resp["id_token"] = "idt-" + rand.Text()
		}
		if ts.scope != "" {
			resp["scope"] = ts.scope
		}
		ts.refreshes++
		ts.mu.Unlock()
		writeJSON(w, resp)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
	}
}

// issue returns a token response with a new access token and, if
// withRefresh, a new refresh token. ts.mu is held.
func (ts *tokenServer) issue(withRefresh bool) map[string]any {
	at := "at-" + rand.Text()
	ts.issued = append(ts.issued, at)
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 3600}
	if withRefresh {
		rt := "rt-" + rand.Text()
		ts.valid[rt] = true
		resp["refresh_token"] = rt
	}
	return resp
}

// addRefreshToken makes rt a valid refresh token.
func (ts *tokenServer) addRefreshToken(rt string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.valid[rt] = true
}

func (ts *tokenServer) stats() (refreshes int, seen, issued []string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.refreshes, append([]string(nil), ts.seen...), append([]string(nil), ts.issued...)
}

func (ts *tokenServer) profile(w http.ResponseWriter, r *http.Request) {
	at := r.URL.Query().Get("access_token")
	ts.mu.Lock()
	ok := false
	for _, t := range ts.issued {
		ok = ok || t == at
	}
	ts.mu.Unlock()
	if !ok || !strings.HasPrefix(at, "at-") {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	writeJSON(w, map[string]any{"id": ts.subject, "username": "ada", "name": "Ada Lovelace", "email": "ada@example.com"})
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc}); err != nil {
		panic(fmt.Sprintf("encoding error response: %v", err))
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		panic(fmt.Sprintf("encoding response: %v", err))
	}
}
