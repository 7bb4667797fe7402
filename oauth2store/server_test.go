package oauth2store_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/jwt"
	"golang.org/x/oauth2"
)

// authServer is a real OAuth 2.0 authorization server (ory/fosite, all
// handlers enabled, in-memory storage) on an httptest.Server. It rotates
// refresh tokens on every refresh and treats the reuse of a spent one as
// theft: it answers invalid_grant and revokes the whole grant.
//
// It records, in memory, every pair it issues and every refresh request
// by the generation of the refresh token presented. Tokens never appear
// in a failure message: tests compare them and report generations.
type authServer struct {
	srv      *httptest.Server
	provider fosite.OAuth2Provider
	cfg      *oauth2.Config

	// stripRefresh removes refresh_token from refresh responses (a
	// server that keeps the old refresh token valid says nothing).
	stripRefresh bool

	mu       sync.Mutex
	pairs    []pair         // issued, in order; generation = index
	gen      map[string]int // refresh token -> generation
	access   map[string]int // access token -> generation
	presents map[int]int    // refreshes by generation of the presented refresh token
	failures []string       // error codes of refused refreshes
}

type pair struct{ access, refresh, id string }

// newAuthServer starts a server whose access tokens live for atLife.
func newAuthServer(t testing.TB, atLife time.Duration) *authServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	config := &fosite.Config{
		AccessTokenLifespan:  atLife,
		RefreshTokenLifespan: time.Hour,
		IDTokenLifespan:      time.Hour,
		IDTokenIssuer:        "http://issuer.test",
		GlobalSecret:         secret,
		ScopeStrategy:        fosite.ExactScopeStrategy,
	}
	st := storage.NewMemoryStore()
	st.Clients["client"] = &fosite.DefaultClient{
		ID:         "client",
		Public:     true,
		GrantTypes: []string{"password", "refresh_token"},
		Scopes:     []string{"offline", "openid", "email"},
	}
	st.Users["peter"] = storage.MemoryUserRelation{Username: "peter", Password: "secret"}
	a := &authServer{
		provider: compose.ComposeAllEnabled(config, st, key),
		gen:      map[string]int{},
		access:   map[string]int{},
		presents: map[int]int{},
	}
	a.srv = httptest.NewServer(http.HandlerFunc(a.token))
	t.Cleanup(a.srv.Close)
	a.cfg = &oauth2.Config{
		ClientID: "client",
		Endpoint: oauth2.Endpoint{TokenURL: a.srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"offline", "openid", "email"},
	}
	return a
}

// token is the token endpoint.
func (a *authServer) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := openid.NewDefaultSession()
	sess.Claims.Subject = "peter"
	sess.Claims.Issuer = "http://issuer.test"
	sess.Headers = &jwt.Headers{}
	ar, err := a.provider.NewAccessRequest(ctx, r, sess)
	presented := r.PostForm.Get("refresh_token")
	isRefresh := r.PostForm.Get("grant_type") == "refresh_token"
	if isRefresh {
		a.mu.Lock()
		g, ok := a.gen[presented]
		if !ok {
			g = -1
		}
		a.presents[g]++
		a.mu.Unlock()
	}
	if err != nil {
		a.fail(ctx, w, ar, err, isRefresh)
		return
	}
	if ar.GetGrantTypes().ExactOne("password") {
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
	}
	resp, err := a.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		a.fail(ctx, w, ar, err, isRefresh)
		return
	}
	p := pair{access: resp.GetAccessToken()}
	p.refresh, _ = resp.GetExtra("refresh_token").(string)
	p.id, _ = resp.GetExtra("id_token").(string)
	a.mu.Lock()
	a.gen[p.refresh] = len(a.pairs)
	a.access[p.access] = len(a.pairs)
	a.pairs = append(a.pairs, p)
	a.mu.Unlock()
	if !a.stripRefresh || !isRefresh {
		a.provider.WriteAccessResponse(ctx, w, ar, resp)
		return
	}
	rec := httptest.NewRecorder()
	a.provider.WriteAccessResponse(ctx, rec, ar, resp)
	var body map[string]any
	if err := json.NewDecoder(rec.Body).Decode(&body); err != nil {
		http.Error(w, "test server: decoding its own response", http.StatusInternalServerError)
		return
	}
	delete(body, "refresh_token")
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(body); err != nil {
		http.Error(w, "test server: encoding", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(rec.Code)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return // the client went away
	}
}

func (a *authServer) fail(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester, err error, isRefresh bool) {
	if isRefresh {
		a.mu.Lock()
		a.failures = append(a.failures, fosite.ErrorToRFC6749Error(err).ErrorField)
		a.mu.Unlock()
	}
	a.provider.WriteAccessError(ctx, w, ar, err)
}

// login gets the first pair, with the password grant.
func (a *authServer) login(t testing.TB) *oauth2.Token {
	t.Helper()
	tok, err := a.cfg.PasswordCredentialsToken(context.Background(), "peter", "secret")
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("password grant: no refresh token")
	}
	return tok
}

// generation returns the generation of an issued access token, or -1.
func (a *authServer) generation(access string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if g, ok := a.access[access]; ok {
		return g
	}
	return -1
}

// stats returns the number of pairs issued, the refreshes by generation
// of the presented refresh token, and the refused refreshes' error codes.
func (a *authServer) stats() (issued int, presents map[int]int, failures []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	presents = map[int]int{}
	for g, n := range a.presents {
		presents[g] = n
	}
	return len(a.pairs), presents, append([]string(nil), a.failures...)
}

// newest returns the last pair issued and its generation.
func (a *authServer) newest() (pair, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pairs[len(a.pairs)-1], len(a.pairs) - 1
}

// newestRefresh returns the refresh token of the last pair issued.
func (a *authServer) newestRefresh() string {
	p, _ := a.newest()
	return p.refresh
}
