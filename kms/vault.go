package kms

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/vault/api"
	"github.com/tink-crypto/tink-go-hcvault/v2/integration/hcvault"
	"github.com/tink-crypto/tink-go/v2/tink"
)

type vaultBackend struct {
	aead tink.AEAD
}

// newVault returns the backend of an hcvault:// URI and the Vault token it
// uses ("" if none).
func newVault(uri string, o *options) (backend, string, error) {
	u, err := parseVaultURI(uri)
	if err != nil {
		return nil, "", err
	}
	cfg := api.DefaultConfig() // reads the VAULT_* environment variables
	if cfg.Error != nil {
		return nil, "", &Error{Op: "open", URI: uri, Err: cfg.Error}
	}
	// The URI names the server: VAULT_ADDR and VAULT_AGENT_ADDR do not
	// redirect it. Tink's client speaks https only.
	cfg.Address = "https://" + u.Host
	cfg.AgentAddress = ""
	if o.timeout > 0 {
		cfg.Timeout = o.timeout
	}
	if o.vaultTLS != nil {
		t, ok := cfg.HttpClient.Transport.(*http.Transport)
		if !ok {
			return nil, "", &Error{Op: "open", URI: uri, Err: errors.New("the Vault client's transport is not an *http.Transport")}
		}
		tc := o.vaultTLS.Clone()
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
		t.TLSClientConfig = tc
	}
	client, err := api.NewClient(cfg) // reads VAULT_TOKEN and VAULT_NAMESPACE
	if err != nil {
		return nil, "", &Error{Op: "open", URI: uri, Err: err}
	}
	if o.vaultToken != "" {
		client.SetToken(o.vaultToken)
	}
	// tink-go-hcvault's own checks of the URI are looser than
	// parseVaultURI's.
	kc, err := hcvault.NewClientWithAEADOptions(uri, client.Logical())
	if err != nil {
		return nil, "", invalidURI("hcvault", whyVault)
	}
	aead, err := kc.GetAEAD(uri)
	if err != nil {
		return nil, "", invalidURI("hcvault", whyVault)
	}
	return &vaultBackend{aead: aead}, client.Token(), nil
}

func (b *vaultBackend) encrypt(ctx context.Context, pt, ad []byte) ([]byte, error) {
	return withContext(ctx, func() ([]byte, error) { return b.aead.Encrypt(pt, ad) })
}

func (b *vaultBackend) decrypt(ctx context.Context, ct, ad []byte) ([]byte, error) {
	return withContext(ctx, func() ([]byte, error) { return b.aead.Decrypt(ct, ad) })
}

func (b *vaultBackend) limits() (int, int) { return 0, 0 }

func (b *vaultBackend) close() error { return nil }

// parseVaultURI parses an hcvault:// URI: an https Vault address (host and
// optional port), then the path of a Transit key, MOUNT/keys/NAME, where
// MOUNT may have several segments; no user, password, query or fragment,
// and no empty, "." or ".." segment.
func parseVaultURI(uri string) (*url.URL, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, invalidURI("hcvault", whyVaultURL)
	}
	switch {
	case u.User != nil:
		return nil, invalidURI("hcvault", whyVaultUser)
	case u.Scheme != "hcvault" || u.Opaque != "" || u.Hostname() == "":
		return nil, invalidURI("hcvault", whyVault)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(uri, "#"):
		return nil, invalidURI("hcvault", whyVaultQuery)
	}
	segs := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	if len(segs) < 3 || segs[len(segs)-2] != "keys" {
		return nil, invalidURI("hcvault", whyVault)
	}
	for _, s := range segs {
		if d, err := url.PathUnescape(s); err != nil || d == "" || d == "." || d == ".." {
			return nil, invalidURI("hcvault", whyVaultSegment)
		}
	}
	return u, nil
}

// withContext runs f, which takes no context (tink-go-hcvault calls Vault
// without one), and returns early with ctx's error if ctx ends first. f
// then goes on until the Vault client's own timeout (the AEAD's timeout);
// a plaintext it returns after that is cleared and dropped.
func withContext(ctx context.Context, f func() ([]byte, error)) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := f()
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-ctx.Done():
		go func() { clear((<-done).b) }()
		return nil, ctx.Err()
	}
}

// kind classifies Vault's HTTP answers.
func (b *vaultBackend) kind(op string, err error) error {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return nil
	}
	switch {
	case re.StatusCode == http.StatusUnauthorized, re.StatusCode == http.StatusForbidden:
		return ErrAccessDenied
	case re.StatusCode == http.StatusTooManyRequests, re.StatusCode >= 500:
		return ErrUnreachable // 503: sealed or standby
	case re.StatusCode == http.StatusNotFound:
		return ErrKeyUnavailable // no such mount
	case re.StatusCode == http.StatusBadRequest:
		msg := strings.ToLower(strings.Join(re.Errors, " "))
		switch {
		case strings.Contains(msg, "not found"), strings.Contains(msg, "disallowed by policy"):
			return ErrKeyUnavailable // "encryption key not found"; a version below min_decryption_version
		case op == "decrypt":
			return ErrDecrypt
		}
	}
	return nil
}
