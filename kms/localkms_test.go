package kms

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskmsapi "github.com/aws/aws-sdk-go-v2/service/kms"
)

// local-kms (github.com/nsmithuk/local-kms), built from the module the
// proxy serves by `go build ./internal/localkms` and started once per test
// binary on 127.0.0.1 at a free port. Without CI=true, a failure to build
// or start it skips the tests that need it; under CI=true it fails them.

const (
	localKMSRegion  = "eu-west-2"
	localKMSAccount = "111122223333"
)

var localKMS struct {
	once  sync.Once
	url   string
	err   error
	dir   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := stopLocalKMS(); err != nil {
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
	localKMS.once.Do(func() { localKMS.err = startLocalKMS() })
	if localKMS.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("local-kms is required under CI=true: %v", localKMS.err)
		}
		t.Skipf("local-kms unavailable (under CI=true this fails): %v", localKMS.err)
	}
	return localKMS.url
}

func startLocalKMS() error {
	dir, err := os.MkdirTemp("", "accountvault-localkms-")
	if err != nil {
		return err
	}
	localKMS.dir = dir
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("no go command to build local-kms: %w", err)
	}
	bin := filepath.Join(dir, "localkms")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./internal/localkms")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./internal/localkms: %w\n%s", err, out)
	}

	logPath := filepath.Join(dir, "localkms.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-data", filepath.Join(dir, "data"),
		"-region", localKMSRegion, "-account", localKMSAccount)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start local-kms: %w", err)
	}
	localKMS.cmd, localKMS.stdin = cmd, stdin
	localKMS.done = make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout) // drain: nothing else is expected there
		localKMS.done <- cmd.Wait()
	}()
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			return fmt.Errorf("local-kms exited before listening; its log:\n%s", tail(logPath))
		}
		line = l
	case <-time.After(60 * time.Second):
		return fmt.Errorf("local-kms did not report its address within 60 s; its log:\n%s", tail(logPath))
	}
	addr, ok := strings.CutPrefix(line, "localkms: listening on ")
	if !ok {
		return fmt.Errorf("local-kms printed %q, not its address", line)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("local-kms address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("local-kms listens on %s, not on loopback", addr)
	}
	localKMS.url = "http://" + addr
	return nil
}

func stopLocalKMS() error {
	var errs []error
	if localKMS.cmd != nil {
		errs = append(errs, localKMS.stdin.Close()) // local-kms exits at end of input
		select {
		case err := <-localKMS.done:
			errs = append(errs, err)
		case <-time.After(10 * time.Second):
			errs = append(errs, localKMS.cmd.Process.Kill(), errors.New("local-kms did not exit within 10 s of closing its input; killed"))
			<-localKMS.done
		}
	}
	if localKMS.dir != "" {
		errs = append(errs, os.RemoveAll(localKMS.dir))
	}
	return errors.Join(errs...)
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
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
