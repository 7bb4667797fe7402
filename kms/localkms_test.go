package kms

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskmsapi "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/accountvault/accountvault/kms/internal/localkmstest"
)

// local-kms (github.com/nsmithuk/local-kms), built from the module the
// proxy serves by `go build ./internal/localkms` and started once per test
// binary on 127.0.0.1 at a free port (package internal/localkmstest).
// Without CI=true, a failure to build or start it skips the tests that
// need it; under CI=true it fails them.

const (
	localKMSRegion  = localkmstest.Region
	localKMSAccount = localkmstest.Account
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := localkmstest.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping local-kms:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// localKMSURL returns the base URL of the running local-kms, starting it
// on first use.
func localKMSURL(t testing.TB) string {
	t.Helper()
	url, err := localkmstest.URL()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("local-kms is required under CI=true: %v", err)
		}
		t.Skipf("local-kms unavailable (under CI=true this fails): %v", err)
	}
	return url
}

// countingTransport counts the HTTP requests that reach the KMS, retries
// included.
type countingTransport struct {
	n atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// localKMSConfig returns an AWS configuration for the local-kms at url,
// with throwaway credentials (local-kms checks no signature) and, if rt is
// not nil, its transport.
func localKMSConfig(url string, rt http.RoundTripper) aws.Config {
	cfg := aws.Config{
		Region:       localKMSRegion,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCALKMSTEST", "local-kms-checks-no-signature", ""),
	}
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	return cfg
}

// localKMSKey creates a symmetric key in local-kms through its API and
// returns its aws-kms:// URI and its ARN.
func localKMSKey(t testing.TB) (uri, arn string) {
	t.Helper()
	c := awskmsapi.NewFromConfig(localKMSConfig(localKMSURL(t), nil))
	out, err := c.CreateKey(t.Context(), &awskmsapi.CreateKeyInput{Description: aws.String("accountvault kms test " + t.Name())})
	if err != nil {
		t.Fatalf("local-kms CreateKey: %v", err)
	}
	arn = aws.ToString(out.KeyMetadata.Arn)
	return SchemeAWS + arn, arn
}

// localKMSAdmin returns a client of the local-kms API for key management
// (DisableKey, EnableKey, …).
func localKMSAdmin(t testing.TB) *awskmsapi.Client {
	return awskmsapi.NewFromConfig(localKMSConfig(localKMSURL(t), nil))
}

// iamProxy stands in front of local-kms as AWS IAM does in front of AWS
// KMS: while deny is set, it answers every request the way AWS answers a
// caller whose kms:Encrypt or kms:Decrypt permission was revoked
// (local-kms has no IAM); otherwise it passes requests through.
type iamProxy struct {
	deny atomic.Bool
	url  string
}

func newIAMProxy(t testing.TB) *iamProxy {
	t.Helper()
	target, err := url.Parse(localKMSURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := new(iamProxy)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.deny.Load() {
			rp.ServeHTTP(w, r)
			return
		}
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"AccessDeniedException","message":"User: arn:aws:sts::%s:assumed-role/app/i-0123 is not authorized to perform: kms:%s on this resource because no identity-based policy allows the kms:%s action"}`,
			localKMSAccount, op, op)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}
