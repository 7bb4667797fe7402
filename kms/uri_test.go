package kms

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/api/option"
)

// An environment master key (base64 of 32 bytes), as an operator might
// paste by mistake where a key URI belongs.
const pastedMasterKey = "q8bG1dFQm0Jc4m2Z7X0Yp5V9w3tH6sKcR1aLnE2uBvA="

func TestCheckURI(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		want error // nil: accepted
	}{
		{"aws-kms://arn:aws:kms:eu-west-2:111122223333:key/0e4a1f7c-6d0b-4c55-9b8e-2f1f0a3d9c11", nil},
		{"aws-kms://arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", nil},
		{"aws-kms://arn:aws:kms:eu-west-2:111122223333:alias/accountvault/prod", nil},
		{"aws-kms://arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/0e4a1f7c", nil},
		{"aws-kms://", ErrInvalidURI},
		{"aws-kms://0e4a1f7c-6d0b-4c55-9b8e-2f1f0a3d9c11", ErrInvalidURI},       // a bare key id: no region
		{"aws-kms://arn:aws:kms:eu-west-2:1111:key/0e4a1f7c", ErrInvalidURI},    // account of 4 digits
		{"aws-kms://arn:aws:s3:::bucket", ErrInvalidURI},                        // not KMS
		{"aws-kms://arn:aws:kms:eu-west-2:111122223333:key/a b", ErrInvalidURI}, // space
		{"gcp-kms://projects/p-1/locations/global/keyRings/r/cryptoKeys/k", nil},
		{"gcp-kms://projects/example.com:p/locations/europe-west1/keyRings/r_1/cryptoKeys/k-2", nil},
		{"gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", ErrInvalidURI},
		{"gcp-kms://projects/p/locations/l/keyRings/r", ErrInvalidURI},
		{"gcp-kms://", ErrInvalidURI},
		{"hcvault://vault.example.com:8200/transit/keys/accountvault", nil},
		{"hcvault://vault.example.com/teams/auth/transit/keys/accountvault", nil},
		{"hcvault://[::1]:8200/transit/keys/k", nil},
		{"hcvault://vault.example.com:8200/transit/keys/k?x=1", ErrInvalidURI},
		{"hcvault://vault.example.com:8200/transit/keys/k#f", ErrInvalidURI},
		{"hcvault://vault.example.com:8200/transit/keys/k#", ErrInvalidURI},
		{"hcvault://vault.example.com:8200/transit/k", ErrInvalidURI},
		{"hcvault://vault.example.com:8200/transit/keys/", ErrInvalidURI},
		{"hcvault://vault.example.com:8200/a/../keys/k", ErrInvalidURI},
		{"hcvault://vault.example.com:8200/a/%2e%2e/keys/k", ErrInvalidURI},
		{"hcvault://vault.example.com:8200//keys/k", ErrInvalidURI},
		{"hcvault:///transit/keys/k", ErrInvalidURI},
		{"hcvault://vault.example.com:port/transit/keys/k", ErrInvalidURI},
		{"hcvault://root:hvs.s3cretToken@vault.example.com:8200/transit/keys/k", ErrInvalidURI},
		{"", ErrUnknownScheme},
		{pastedMasterKey, ErrUnknownScheme},
		{"AWS-KMS://arn:aws:kms:eu-west-2:111122223333:key/0e4a1f7c", ErrUnknownScheme},
		{"file:///etc/accountvault/master.key", ErrUnknownScheme},
		{"env://ACCOUNTVAULT_MASTER_KEY", ErrUnknownScheme},
		{"azure-kv://vault/keys/k", ErrUnknownScheme},
	} {
		err := checkURI(tc.uri)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("checkURI(%q) = %v; want %v", tc.uri, err, tc.want)
		}
		if err != nil {
			assertNoRepeat(t, err, tc.uri)
		}
	}
}

// assertNoRepeat fails if err, an error for uri, repeats more of uri than
// its scheme.
func assertNoRepeat(t testing.TB, err error, uri string) {
	t.Helper()
	_, rest, ok := strings.Cut(uri, "://")
	if !ok {
		rest = uri
	}
	if rest != "" && strings.Contains(err.Error(), rest) {
		t.Errorf("error %q repeats the URI", err)
	}
	for _, secret := range []string{"s3cretToken", pastedMasterKey} {
		if strings.Contains(uri, secret) && strings.Contains(err.Error(), secret) {
			t.Errorf("error %q repeats a secret", err)
		}
	}
}

// TestMasterKeyInvalidURI: MasterKey refuses what checkURI refuses, with
// the same error, before building any client.
func TestMasterKeyInvalidURI(t *testing.T) {
	for _, uri := range []string{pastedMasterKey, "aws-kms://arn:aws:s3:::bucket", "hcvault://root:hvs.s3cretToken@vault:8200/transit/keys/k"} {
		a, err := MasterKey(t.Context(), uri)
		if err == nil || a != nil || err.Error() != checkURI(uri).Error() {
			t.Errorf("MasterKey(%q) = %v, %v; want nil, %v", uri, a, err, checkURI(uri))
		}
	}
}

// TestMasterKeyBuildsOffline: valid URIs of every scheme give an AEAD
// without contacting anything (the endpoints here do not exist).
func TestMasterKeyBuildsOffline(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		opts []Option
	}{
		{"aws-kms://arn:aws:kms:eu-west-2:111122223333:key/0e4a1f7c", []Option{WithAWSConfig(aws.Config{BaseEndpoint: aws.String("http://" + closedPort(t))})}},
		{"gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k", []Option{WithGCPClientOptions(option.WithoutAuthentication(), option.WithEndpoint(closedPort(t)))}},
		{"hcvault://" + closedPort(t) + "/transit/keys/k", nil},
	} {
		a, err := MasterKey(t.Context(), tc.uri, tc.opts...)
		if err != nil {
			t.Errorf("MasterKey(%q): %v", tc.uri, err)
			continue
		}
		var _ tink.AEAD = a
		if a.URI() != tc.uri {
			t.Errorf("URI() = %q; want %q", a.URI(), tc.uri)
		}
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// invalidWhys are the only texts an ErrInvalidURI adds to its scheme.
var invalidWhys = []string{whyAWS, whyGCP, whyVault, whyVaultURL, whyVaultUser, whyVaultQuery, whyVaultSegment}

// FuzzCheckURI: checkURI never panics, and its errors depend on the URI's
// scheme only: ErrUnknownScheme names at most the scheme, ErrInvalidURI
// one of the fixed explanations.
func FuzzCheckURI(f *testing.F) {
	for _, s := range []string{
		"aws-kms://arn:aws:kms:eu-west-2:111122223333:key/0e4a1f7c",
		"gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k",
		"hcvault://vault:8200/transit/keys/k",
		"hcvault://u:p@vault:8200/transit/keys/k",
		pastedMasterKey, "", "x://", "hcvault://%zz/keys/k",
	} {
		f.Add(s)
	}
	allowed := map[string]bool{}
	for _, scheme := range []string{"aws-kms", "gcp-kms", "hcvault"} {
		for _, why := range invalidWhys {
			allowed[invalidURI(scheme, why).Error()] = true
		}
	}
	f.Fuzz(func(t *testing.T, uri string) {
		err := checkURI(uri)
		switch {
		case err == nil:
		case errors.Is(err, ErrInvalidURI):
			if !allowed[err.Error()] {
				t.Fatalf("checkURI(%q) = %q: not one of the fixed explanations", uri, err)
			}
		case errors.Is(err, ErrUnknownScheme):
			probe := ""
			if scheme, _, ok := strings.Cut(uri, "://"); ok {
				probe = scheme + "://"
			}
			if want := unknownScheme(probe); err.Error() != want.Error() {
				t.Fatalf("checkURI(%q) = %q; want %q (the scheme only)", uri, err, want)
			}
		default:
			t.Fatalf("checkURI(%q) = %v: neither ErrInvalidURI nor ErrUnknownScheme", uri, err)
		}
	})
}
