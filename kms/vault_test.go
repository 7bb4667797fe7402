package kms

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeVault is an in-process Vault server (TLS on 127.0.0.1) implementing
// the two Transit endpoints tink-go-hcvault calls, as Vault 1.13+ answers
// them for an aes256-gcm96 key:
//
//	PUT /v1/MOUNT/encrypt/NAME {"plaintext": b64, "associated_data": b64}
//	  → {"data": {"ciphertext": "vault:v1:" + b64(nonce || sealed), "key_version": 1}}
//	PUT /v1/MOUNT/decrypt/NAME {"ciphertext": "vault:v1:…", "associated_data": b64}
//	  → {"data": {"plaintext": b64}}
//
// with Vault's errors: 403 "permission denied" for a missing or wrong
// X-Vault-Token, 400 "encryption key not found", 400 "cipher: message
// authentication failed", 503 "Vault is sealed". Keys are real AES-256-GCM
// keys; the server counts the calls it serves.
type fakeVault struct {
	srv   *httptest.Server
	mu    sync.Mutex
	token string
	keys  map[string]cipher.AEAD // "MOUNT/NAME"

	encrypts, decrypts atomic.Int64
	sealed             atomic.Bool
	// echo makes every error quote the request's body and token, as a
	// careless server might.
	echo atomic.Bool
}

func newFakeVault(t testing.TB, keys ...string) *fakeVault {
	t.Helper()
	v := &fakeVault{token: "hvs.CAESI" + base64.RawURLEncoding.EncodeToString(randBytes(t, 24)), keys: map[string]cipher.AEAD{}}
	for _, k := range keys {
		block, err := aes.NewCipher(randBytes(t, 32))
		if err != nil {
			t.Fatal(err)
		}
		g, err := cipher.NewGCM(block)
		if err != nil {
			t.Fatal(err)
		}
		v.keys[k] = g
	}
	v.srv = httptest.NewTLSServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	return v
}

// uri returns the hcvault:// URI of key "MOUNT/NAME".
func (v *fakeVault) uri(key string) string {
	mount, name, _ := strings.Cut(key, "/")
	return SchemeVault + v.srv.Listener.Addr().String() + "/" + mount + "/keys/" + name
}

// tls returns a client TLS configuration trusting the server.
func (v *fakeVault) tls() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(v.srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

func (v *fakeVault) revokeToken() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.token = "revoked " + v.token
}

func (v *fakeVault) currentToken() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.token
}

func (v *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	body := new(bytes.Buffer)
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
		vaultError(w, http.StatusBadRequest, "reading the request: "+err.Error())
		return
	}
	fail := func(code int, msg string) {
		if v.echo.Load() {
			msg += fmt.Sprintf(" (request %s, token %s)", body.String(), r.Header.Get("X-Vault-Token"))
		}
		vaultError(w, code, msg)
	}
	if v.sealed.Load() {
		fail(http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	// /v1/MOUNT/{encrypt,decrypt}/NAME
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	parts := strings.Split(path, "/")
	if !ok || len(parts) != 3 || (parts[1] != "encrypt" && parts[1] != "decrypt") {
		fail(http.StatusNotFound, "no handler for route")
		return
	}
	mount, op, name := parts[0], parts[1], parts[2]
	if r.Header.Get("X-Vault-Token") != v.currentToken() {
		fail(http.StatusForbidden, "permission denied")
		return
	}
	key := v.keys[mount+"/"+name]
	if key == nil {
		fail(http.StatusBadRequest, "encryption key not found")
		return
	}
	var req map[string]string
	if err := json.Unmarshal(body.Bytes(), &req); err != nil {
		fail(http.StatusBadRequest, "error parsing JSON")
		return
	}
	ad, err := base64.StdEncoding.DecodeString(req["associated_data"])
	if err != nil {
		fail(http.StatusBadRequest, "failed to base64-decode associated data")
		return
	}
	switch op {
	case "encrypt":
		v.encrypts.Add(1)
		pt, err := base64.StdEncoding.DecodeString(req["plaintext"])
		if err != nil {
			fail(http.StatusBadRequest, "failed to base64-decode plaintext")
			return
		}
		if v.echo.Load() {
			fail(http.StatusBadRequest, "plaintext rejected")
			return
		}
		nonce := make([]byte, key.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			fail(http.StatusInternalServerError, "randomness")
			return
		}
		ct := "vault:v1:" + base64.StdEncoding.EncodeToString(key.Seal(nonce, nonce, pt, ad))
		vaultData(w, map[string]any{"ciphertext": ct, "key_version": 1})
	case "decrypt":
		v.decrypts.Add(1)
		raw, ok := strings.CutPrefix(req["ciphertext"], "vault:v1:")
		if !ok {
			fail(http.StatusBadRequest, "invalid ciphertext: no prefix")
			return
		}
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil || len(b) < key.NonceSize() {
			fail(http.StatusBadRequest, "invalid ciphertext: could not decode")
			return
		}
		pt, err := key.Open(nil, b[:key.NonceSize()], b[key.NonceSize():], ad)
		if err != nil {
			fail(http.StatusBadRequest, "cipher: message authentication failed")
			return
		}
		vaultData(w, map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)})
	}
}

func vaultError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}}) // the client sees a short body if this fails
}

func vaultData(w http.ResponseWriter, data map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"request_id": "00000000-0000-0000-0000-000000000000", "data": data}) // as above
}

// vaultKey returns the AEAD of key "MOUNT/NAME" of v with its token.
func vaultKey(t testing.TB, v *fakeVault, key string, opts ...Option) *AEAD {
	t.Helper()
	a, err := MasterKey(t.Context(), v.uri(key), append([]Option{WithVaultToken(v.currentToken()), WithVaultTLSConfig(v.tls())}, opts...)...)
	if err != nil {
		t.Fatalf("MasterKey(%s): %v", v.uri(key), err)
	}
	return a
}

func TestVaultRoundTrip(t *testing.T) {
	v := newFakeVault(t, "transit/master")
	a := vaultKey(t, v, "transit/master")
	pt, ad := randBytes(t, 5000), []byte("accountvault keyring v1\x00metadata")
	ct, err := a.Encrypt(pt, ad)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	got, err := a.Decrypt(ct, ad)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if !bytes.Equal(got, pt) {
		t.Fatal("Decrypt returned other bytes than were encrypted")
	}
	if e, d := v.encrypts.Load(), v.decrypts.Load(); e != 1 || d != 1 {
		t.Errorf("server served %d encrypts and %d decrypts; want 1 and 1", e, d)
	}
	if got, err := a.Decrypt(ct, []byte("other")); !errors.Is(err, ErrDecrypt) || got != nil {
		t.Errorf("Decrypt with other associated data = %d bytes, %v; want nil, ErrDecrypt", len(got), err)
	}
	bad := bytes.Clone(ct)
	bad[len(bad)-2] ^= 1
	if _, err := a.Decrypt(bad, ad); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Decrypt of a modified ciphertext: %v; want ErrDecrypt", err)
	}
	// Another key of the same Vault does not decrypt it.
	v2 := newFakeVault(t, "transit/master")
	if _, err := vaultKey(t, v2, "transit/master").Decrypt(ct, ad); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Decrypt with another key: %v; want ErrDecrypt", err)
	}
}

func TestVaultAccessDenied(t *testing.T) {
	v := newFakeVault(t, "transit/master")
	a := vaultKey(t, v, "transit/master")
	ct, err := a.Encrypt([]byte("keyset"), nil)
	if err != nil {
		t.Fatal(err)
	}
	token := v.currentToken()
	v.revokeToken()
	_, err = a.Decrypt(ct, nil)
	if !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Decrypt, token revoked: %v; want ErrAccessDenied", err)
	}
	assertNoQuote(t, err, []byte(token))
	if _, err := a.Encrypt([]byte("keyset"), nil); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Encrypt, token revoked: %v; want ErrAccessDenied", err)
	}
	// No token at all (VAULT_TOKEN unset).
	t.Setenv("VAULT_TOKEN", "")
	none, err := MasterKey(t.Context(), v.uri("transit/master"), WithVaultTLSConfig(v.tls()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := none.Decrypt(ct, nil); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Decrypt without a token: %v; want ErrAccessDenied", err)
	}
}

func TestVaultTokenFromEnvironment(t *testing.T) {
	v := newFakeVault(t, "transit/master")
	t.Setenv("VAULT_TOKEN", v.currentToken())
	t.Setenv("VAULT_ADDR", "https://192.0.2.1:8200") // ignored: the URI names the server
	a, err := MasterKey(t.Context(), v.uri("transit/master"), WithVaultTLSConfig(v.tls()))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := a.Encrypt([]byte("keyset"), nil)
	if err != nil {
		t.Fatalf("Encrypt with VAULT_TOKEN: %v", err)
	}
	if _, err := a.Decrypt(ct, nil); err != nil {
		t.Fatalf("Decrypt with VAULT_TOKEN: %v", err)
	}
}

func TestVaultUnknownKey(t *testing.T) {
	v := newFakeVault(t, "transit/master")
	ct, err := vaultKey(t, v, "transit/master").Encrypt([]byte("keyset"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := vaultKey(t, v, "transit/other")
	if _, err := a.Decrypt(ct, nil); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("Decrypt with a key that does not exist: %v; want ErrKeyUnavailable", err)
	}
}

func TestVaultUnreachable(t *testing.T) {
	t.Run("sealed", func(t *testing.T) {
		v := newFakeVault(t, "transit/master")
		a := vaultKey(t, v, "transit/master")
		v.sealed.Store(true)
		if _, err := a.Decrypt([]byte("vault:v1:AAAA"), nil); !errors.Is(err, ErrUnreachable) {
			t.Errorf("Decrypt, Vault sealed: %v; want ErrUnreachable", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		a, err := MasterKey(t.Context(), SchemeVault+closedPort(t)+"/transit/keys/master", WithVaultToken("hvs.test-token-0123456789"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Decrypt([]byte("vault:v1:AAAA"), nil); !errors.Is(err, ErrUnreachable) {
			t.Errorf("Decrypt, connection refused: %v; want ErrUnreachable", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		v := newFakeVault(t, "transit/master")
		a, err := MasterKey(t.Context(), v.uri("transit/master"), WithVaultToken(v.currentToken()), WithVaultTLSConfig(&tls.Config{}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Decrypt([]byte("vault:v1:AAAA"), nil); !errors.Is(err, ErrUnreachable) {
			t.Errorf("Decrypt, certificate of an unknown authority: %v; want ErrUnreachable", err)
		}
		if n := v.decrypts.Load(); n != 0 {
			t.Errorf("the server served %d decrypts over an untrusted connection", n)
		}
	})
	t.Run("silent", func(t *testing.T) {
		a, err := MasterKey(t.Context(), SchemeVault+silentServer(t)+"/transit/keys/master", WithVaultToken("hvs.test-token-0123456789"), WithTimeout(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Decrypt([]byte("vault:v1:AAAA"), nil)
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("Decrypt, no answer: %v; want ErrUnreachable", err)
		}
	})
	t.Run("context", func(t *testing.T) {
		a, err := MasterKey(t.Context(), SchemeVault+silentServer(t)+"/transit/keys/master", WithVaultToken("hvs.test-token-0123456789"), WithTimeout(0))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err = a.DecryptWithContext(ctx, []byte("vault:v1:AAAA"), nil)
		if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("DecryptWithContext past its deadline: %v; want ErrUnreachable and context.DeadlineExceeded", err)
		}
	})
}

// TestVaultEchoWithheld: a server whose errors quote the request body
// (the plaintext, base64) and the token: neither reaches the error.
func TestVaultEchoWithheld(t *testing.T) {
	v := newFakeVault(t, "transit/master")
	a := vaultKey(t, v, "transit/master")
	v.echo.Store(true)
	pt := randBytes(t, 300)
	_, raw := a.b.encrypt(t.Context(), pt, nil)
	if raw == nil || !quotes(raw.Error(), pt) || !strings.Contains(raw.Error(), v.currentToken()) {
		t.Fatal("the echoing server's error does not quote the plaintext and the token: this test shows nothing")
	}
	_, err := a.Encrypt(pt, nil)
	if err == nil {
		t.Fatal("Encrypt succeeded")
	}
	assertNoQuote(t, err, pt, []byte(v.currentToken()))
	// Decrypt: the request holds no plaintext, but the token is quoted.
	_, err = a.Decrypt([]byte("vault:v1:AAAA"), nil)
	if err == nil {
		t.Fatal("Decrypt succeeded")
	}
	assertNoQuote(t, err, []byte(v.currentToken()))
}
