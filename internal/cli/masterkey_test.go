package cli

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault/keyring"
)

// testKMS is the resolver of the "accountvault-kms" command of the test
// scripts, a stand-in for the kms module's: test-kms://NAME is the local
// master key held in the environment variable NAME, and every call to a
// key whose NAME is listed (comma-separated) in $TEST_KMS_DENY fails as a
// KMS that revoked the application's access would. Any other URI is
// refused without being repeated, as package kms refuses it.
func testKMS(ctx context.Context, uri string) (tink.AEAD, error) {
	name, ok := strings.CutPrefix(uri, "test-kms://")
	if !ok || name == "" {
		return nil, errors.New("test-kms: unknown key URI scheme")
	}
	a, err := keyring.MasterKeyFromEnv(name)
	if err != nil {
		return nil, err
	}
	return &denyingAEAD{AEAD: a, name: name}, nil
}

type denyingAEAD struct {
	tink.AEAD
	name string
}

var errTestKMSDenied = errors.New("test-kms: access denied")

func (d *denyingAEAD) denied() bool {
	return slices.Contains(strings.Split(os.Getenv("TEST_KMS_DENY"), ","), d.name)
}

func (d *denyingAEAD) Encrypt(pt, ad []byte) ([]byte, error) {
	if d.denied() {
		return nil, errTestKMSDenied
	}
	return d.AEAD.Encrypt(pt, ad)
}

func (d *denyingAEAD) Decrypt(ct, ad []byte) ([]byte, error) {
	if d.denied() {
		return nil, errTestKMSDenied
	}
	return d.AEAD.Decrypt(ct, ad)
}

// TestMasterSourcePrecedence checks the order in which the flags and the
// environment name the master key: the command line first.
func TestMasterSourcePrecedence(t *testing.T) {
	const uri = "aws-kms://arn:aws:kms:eu-west-2:111122223333:key/k"
	for _, tc := range []struct {
		name   string
		envURI string
		flags  masterFlags
		want   masterSource
		err    string
	}{
		{name: "default", want: masterSource{env: defaultMasterKeyEnv, from: "--master-key-env"}},
		{name: "env URI", envURI: uri, want: masterSource{uri: uri, from: envMasterKeyURI}},
		{name: "flag URI", flags: masterFlags{uri: uri, uriSet: true}, want: masterSource{uri: uri, from: "--master-key-uri"}},
		{name: "flag URI over env URI", envURI: "gcp-kms://x", flags: masterFlags{uri: uri, uriSet: true}, want: masterSource{uri: uri, from: "--master-key-uri"}},
		{name: "explicit env flag over env URI", envURI: uri, flags: masterFlags{env: "APP_KEY", envSet: true}, want: masterSource{env: "APP_KEY", from: "--master-key-env"}},
		{name: "explicit default env flag over env URI", envURI: uri, flags: masterFlags{env: defaultMasterKeyEnv, envSet: true}, want: masterSource{env: defaultMasterKeyEnv, from: "--master-key-env"}},
		{name: "both flags", flags: masterFlags{uri: uri, uriSet: true, env: "APP_KEY", envSet: true}, err: "--master-key-uri and --master-key-env name two master keys: give one"},
		{name: "empty URI flag", envURI: uri, flags: masterFlags{uriSet: true}, err: "--master-key-uri: empty key URI"},
		{name: "empty env flag", flags: masterFlags{envSet: true}, err: "--master-key-env: empty variable name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envMasterKeyURI, tc.envURI)
			got, err := resolveMasterSource(tc.flags)
			if tc.err != "" {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != exitUsage || err.Error() != tc.err {
					t.Fatalf("err = %v, want usage error %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("resolveMasterSource = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestNoResolver checks that without WithMasterKeyURI every way of naming
// a KMS key is a configuration error that says how to build the binary
// that takes one, and that the resolver is not needed otherwise.
func TestNoResolver(t *testing.T) {
	t.Setenv(envMasterKeyURI, "")
	c := &cli{sig: t.Context()}
	for _, s := range []masterSource{
		{uri: "aws-kms://arn:aws:kms:eu-west-2:111122223333:key/k", from: "--master-key-uri"},
		{uri: "hcvault://vault:8200/transit/keys/k", from: envMasterKeyURI},
		{uri: "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k", from: "--new-master-key-uri"},
	} {
		_, err := c.openMaster(s)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != exitUsage || !errors.Is(err, errConfig) {
			t.Fatalf("%s: err = %v, want a configuration error", s.from, err)
		}
		if want := s.from + ": this accountvault has no KMS support"; !strings.HasPrefix(err.Error(), want) ||
			!strings.Contains(err.Error(), "cd kms && go build -o accountvault ./cmd/accountvault") {
			t.Errorf("err = %q, want it to start %q and name the build", err, want)
		}
	}
}
