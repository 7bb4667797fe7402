package kms

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskmsapi "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/google/uuid"
)

// awsKey returns the AEAD of a new local-kms key, counting its HTTP
// requests in rt if not nil.
func awsKey(t *testing.T, rt *countingTransport, opts ...Option) (*AEAD, string) {
	t.Helper()
	uri, arn := localKMSKey(t)
	var tr http.RoundTripper // a nil *countingTransport would be a non-nil interface
	if rt != nil {
		tr = rt
	}
	cfg := localKMSConfig(localKMSURL(t), tr)
	a, err := MasterKey(t.Context(), uri, append([]Option{WithAWSConfig(cfg)}, opts...)...)
	if err != nil {
		t.Fatalf("MasterKey(%s): %v", uri, err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return a, arn
}

func randBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAWSRoundTrip(t *testing.T) {
	a, _ := awsKey(t, nil)
	pt, ad := randBytes(t, 1000), []byte("accountvault keyring v1\x00metadata")
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
	// The maximum plaintext goes through.
	big := randBytes(t, awsMaxPlaintext)
	ct2, err := a.Encrypt(big, ad)
	if err != nil {
		t.Fatalf("Encrypt of %d bytes: %v", len(big), err)
	}
	if got, err := a.Decrypt(ct2, ad); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Decrypt of %d bytes: %v", len(big), err)
	}

	// Other associated data, a flipped bit: ErrDecrypt, no plaintext.
	if got, err := a.Decrypt(ct, []byte("other")); !errors.Is(err, ErrDecrypt) || got != nil {
		t.Errorf("Decrypt with other associated data = %d bytes, %v; want nil, ErrDecrypt", len(got), err)
	}
	bad := bytes.Clone(ct)
	bad[len(bad)-1] ^= 1
	if got, err := a.Decrypt(bad, ad); !errors.Is(err, ErrDecrypt) || got != nil {
		t.Errorf("Decrypt of a modified ciphertext = %d bytes, %v; want nil, ErrDecrypt", len(got), err)
	}
}

func TestAWSOtherKeysCiphertext(t *testing.T) {
	a, _ := awsKey(t, nil)
	b, _ := awsKey(t, nil)
	ct, err := a.Encrypt([]byte("keyset bytes"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(ct, []byte("ad")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Decrypt with another key: %v; want ErrDecrypt", err)
	}
}

// TestAWSDisabledKey: disabling the key (one way to revoke) makes every
// call fail with ErrKeyUnavailable; enabling it restores them.
func TestAWSDisabledKey(t *testing.T) {
	a, arn := awsKey(t, nil)
	ct, err := a.Encrypt([]byte("keyset"), nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := localKMSAdmin(t)
	if _, err := admin.DisableKey(t.Context(), &awskmsapi.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	_, err = a.Decrypt(ct, nil)
	var e *Error
	if !errors.Is(err, ErrKeyUnavailable) || !errors.As(err, &e) || e.Op != "decrypt" || e.URI != a.URI() {
		t.Errorf("Decrypt with a disabled key: %v; want an *Error of decrypt wrapping ErrKeyUnavailable", err)
	}
	if _, err := a.Encrypt([]byte("keyset"), nil); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("Encrypt with a disabled key: %v; want ErrKeyUnavailable", err)
	}
	if _, err := admin.EnableKey(t.Context(), &awskmsapi.EnableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Decrypt(ct, nil); err != nil {
		t.Errorf("Decrypt after enabling the key again: %v", err)
	}
}

// TestAWSPendingDeletion: a key scheduled for deletion gives
// ErrKeyUnavailable.
func TestAWSPendingDeletion(t *testing.T) {
	a, arn := awsKey(t, nil)
	ct, err := a.Encrypt([]byte("keyset"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := localKMSAdmin(t).ScheduleKeyDeletion(t.Context(), &awskmsapi.ScheduleKeyDeletionInput{KeyId: aws.String(arn), PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Decrypt(ct, nil); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("Decrypt with a key pending deletion: %v; want ErrKeyUnavailable", err)
	}
}

// TestAWSUnknownKey: a key that does not exist: NotFoundException from
// AWS KMS and local-kms alike, ErrKeyUnavailable.
func TestAWSUnknownKey(t *testing.T) {
	a, _ := awsKey(t, nil)
	ct, err := a.Encrypt([]byte("keyset"), nil)
	if err != nil {
		t.Fatal(err)
	}
	uri := SchemeAWS + "arn:aws:kms:" + localKMSRegion + ":" + localKMSAccount + ":key/" + uuid.NewString()
	other, err := MasterKey(t.Context(), uri, WithAWSConfig(localKMSConfig(localKMSURL(t), nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Decrypt(ct, nil); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("Decrypt with a key that does not exist: %v; want ErrKeyUnavailable", err)
	}
	if _, err := other.Encrypt([]byte("keyset"), nil); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("Encrypt with a key that does not exist: %v; want ErrKeyUnavailable", err)
	}
}

// TestAWSAccessDenied: the application's IAM permission on the key is
// revoked (local-kms has no IAM: iamProxy answers as AWS does): every call
// fails with ErrAccessDenied until it is granted again.
func TestAWSAccessDenied(t *testing.T) {
	uri, _ := localKMSKey(t)
	p := newIAMProxy(t)
	a, err := MasterKey(t.Context(), uri, WithAWSConfig(localKMSConfig(p.url, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := a.Encrypt([]byte("keyset"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.deny.Store(true)
	if _, err := a.Decrypt(ct, nil); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Decrypt, permission revoked: %v; want ErrAccessDenied", err)
	}
	if _, err := a.Encrypt([]byte("keyset"), nil); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Encrypt, permission revoked: %v; want ErrAccessDenied", err)
	}
	p.deny.Store(false)
	if _, err := a.Decrypt(ct, nil); err != nil {
		t.Errorf("Decrypt, permission granted again: %v", err)
	}
}

// TestAWSUnreachable: nothing listening, or a server that never answers:
// ErrUnreachable, the latter also context.DeadlineExceeded.
func TestAWSUnreachable(t *testing.T) {
	uri := SchemeAWS + "arn:aws:kms:" + localKMSRegion + ":" + localKMSAccount + ":key/" + uuid.NewString()
	t.Run("refused", func(t *testing.T) {
		a, err := MasterKey(t.Context(), uri, WithAWSConfig(localKMSConfig("http://"+closedPort(t), nil)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Decrypt([]byte("ciphertext"), nil); !errors.Is(err, ErrUnreachable) {
			t.Errorf("Decrypt, connection refused: %v; want ErrUnreachable", err)
		}
	})
	t.Run("silent", func(t *testing.T) {
		a, err := MasterKey(t.Context(), uri, WithAWSConfig(localKMSConfig("http://"+silentServer(t), nil)), WithTimeout(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Decrypt([]byte("ciphertext"), nil)
		if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Decrypt, no answer: %v; want ErrUnreachable and context.DeadlineExceeded", err)
		}
	})
}

// TestAWSTooLarge: a plaintext beyond AWS KMS's 4096 bytes is refused
// before any request.
func TestAWSTooLarge(t *testing.T) {
	rt := new(countingTransport)
	a, _ := awsKey(t, rt)
	pt := randBytes(t, awsMaxPlaintext+1)
	_, err := a.Encrypt(pt, nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Encrypt of %d bytes: %v; want ErrTooLarge", len(pt), err)
	}
	if n := rt.n.Load(); n != 0 {
		t.Errorf("Encrypt of %d bytes made %d requests; want 0", len(pt), n)
	}
	assertNoQuote(t, err, pt)
}

// TestAWSEchoWithheld: local-kms quotes the plaintext of an Encrypt beyond
// its limit in its error message (its ValidationException says "Value
// '<plaintext>' at 'Plaintext' failed to satisfy constraint"). With the size
// check disabled, the request reaches it; the error must not quote the
// plaintext, which here is a keyring's serialized keyset.
func TestAWSEchoWithheld(t *testing.T) {
	a, _ := awsKey(t, nil)
	a.noLimits = true
	// ASCII runs, as in a serialized Tink keyset (its type URLs).
	pt := bytes.Repeat(append([]byte("type.googleapis.com/google.crypto.tink.AesGcmKey"), randBytes(t, 54)...), 41)

	// What the client alone returns: the quote is there.
	_, raw := a.b.encrypt(t.Context(), pt, nil)
	if raw == nil || !quotes(raw.Error(), pt) {
		t.Fatalf("local-kms no longer quotes the plaintext (err %v): this test shows nothing; check its Encrypt handler", raw != nil)
	}
	_, err := a.Encrypt(pt, nil)
	if err == nil {
		t.Fatal("Encrypt beyond local-kms's limit succeeded")
	}
	assertNoQuote(t, err, pt)
	if !strings.Contains(err.Error(), "withheld") {
		t.Errorf("error %q does not say that the client's message was withheld", err)
	}
}

// assertNoQuote fails if err's message quotes one of the secrets, without
// printing either.
func assertNoQuote(t testing.TB, err error, secrets ...[]byte) {
	t.Helper()
	if err == nil {
		return
	}
	for i, s := range secrets {
		if quotes(err.Error(), s) {
			t.Errorf("error message (%d bytes) quotes secret %d", len(err.Error()), i)
		}
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// silentServer returns a loopback address that accepts connections and
// never answers.
func silentServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Error(err)
		}
		<-done
		for _, c := range conns {
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		}
	})
	return ln.Addr().String()
}
