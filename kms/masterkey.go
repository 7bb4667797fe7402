package kms

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/api/option"
)

// The key URI schemes MasterKey accepts.
const (
	SchemeAWS   = "aws-kms://"
	SchemeGCP   = "gcp-kms://"
	SchemeVault = "hcvault://"
)

// DefaultTimeout bounds each KMS call made through [AEAD.Encrypt] and
// [AEAD.Decrypt] unless [WithTimeout] says otherwise.
const DefaultTimeout = 30 * time.Second

// An Option configures [MasterKey]. Options for another scheme than the
// URI's are ignored, so that one set of options can serve whatever URI an
// operator configures.
type Option func(*options)

type options struct {
	timeout    time.Duration
	awsConfig  *aws.Config
	gcpOptions []option.ClientOption
	vaultToken string
	vaultTLS   *tls.Config
}

// WithTimeout bounds every KMS call (retries included) to d; d <= 0 means
// no bound other than the context's (and, for hcvault:// keys, the Vault
// client's own default of 60 s). The default is [DefaultTimeout].
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// WithAWSConfig makes aws-kms:// keys use cfg instead of the SDK's default
// configuration (config.LoadDefaultConfig: environment, shared files, IMDS
// or container credentials). Use it for explicit credentials, an endpoint
// (cfg.BaseEndpoint, as the tests do for local-kms), an HTTP client or a
// retryer. cfg.Region is always replaced by the region of the key's ARN.
func WithAWSConfig(cfg aws.Config) Option {
	return func(o *options) { c := cfg.Copy(); o.awsConfig = &c }
}

// WithGCPClientOptions makes gcp-kms:// keys use these Google API client
// options (credentials, endpoint, gRPC connection) instead of Application
// Default Credentials and the public endpoint.
func WithGCPClientOptions(opts ...option.ClientOption) Option {
	return func(o *options) { o.gcpOptions = append([]option.ClientOption(nil), opts...) }
}

// WithVaultToken makes hcvault:// keys authenticate with token instead of
// the VAULT_TOKEN environment variable. The token never appears in an
// error of this package.
func WithVaultToken(token string) Option {
	return func(o *options) { o.vaultToken = token }
}

// WithVaultTLSConfig makes hcvault:// keys use cfg for TLS (a private CA in
// RootCAs, a client certificate) instead of the Vault client's default,
// which reads VAULT_CACERT, VAULT_CAPATH, VAULT_CLIENT_CERT,
// VAULT_CLIENT_KEY and VAULT_SKIP_VERIFY. cfg is cloned; a MinVersion below
// TLS 1.2 is raised to it.
func WithVaultTLSConfig(cfg *tls.Config) Option {
	return func(o *options) { o.vaultTLS = cfg.Clone() }
}

// backend is one KMS client, bound to one key.
type backend interface {
	encrypt(ctx context.Context, plaintext, associatedData []byte) ([]byte, error)
	decrypt(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error)
	// kind classifies an error of op ("encrypt" or "decrypt") from the
	// KMS's answer (an API error code, an HTTP or gRPC status); nil if it
	// does not know it.
	kind(op string, err error) error
	// limits returns the largest plaintext and associated data one encrypt
	// call accepts; 0 means no limit of its own.
	limits() (maxPlaintext, maxAssociatedData int)
	close() error
}

// AEAD is a master key held by a KMS: a tink.AEAD whose Encrypt and Decrypt
// each make one call to the KMS. Pass it to keyring.LoadFile and
// Keyring.SaveFile (one call each), never to anything that runs per row.
//
// An AEAD is safe for concurrent use. Close it when done.
type AEAD struct {
	uri     string
	b       backend
	timeout time.Duration
	// secrets are credentials that must never appear in an error.
	secrets [][]byte
	// noLimits skips the size checks before Encrypt (tests only: it lets a
	// test see what a server does with a plaintext beyond its limit).
	noLimits bool
}

var (
	_ tink.AEAD            = (*AEAD)(nil)
	_ tink.AEADWithContext = (*AEAD)(nil)
)

// MasterKey returns the master key named by uri, a key held by a KMS:
//
//	aws-kms://arn:aws:kms:REGION:ACCOUNT:key/KEY-ID  (or :alias/NAME)
//	gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K
//	hcvault://HOST[:PORT]/MOUNT/keys/NAME
//
// through github.com/tink-crypto/tink-go-awskms/v3,
// github.com/tink-crypto/tink-go-gcpkms/v2 (gRPC) and
// github.com/tink-crypto/tink-go-hcvault/v2 (Vault Transit over https, the
// plaintext's associated data in the associated_data parameter: an AEAD
// key type, aes256-gcm96 or chacha20-poly1305, and Vault 1.13 or later).
// Credentials come from each SDK's usual places (AWS: environment, shared
// files, instance roles; GCP: Application Default Credentials; Vault: the
// VAULT_TOKEN environment variable) unless an [Option] gives them.
//
// A URI of another scheme gives [ErrUnknownScheme], a malformed one
// [ErrInvalidURI]; neither error repeats the URI, in case a secret was
// passed by mistake. MasterKey reads configuration and builds the client
// (ctx bounds that) but does not call the KMS: the first Encrypt or Decrypt
// does, and its errors say whether the KMS was unreachable, denied access,
// or could not use the key.
//
// The associated data of each call is sent to the KMS, which may log it
// (AWS CloudTrail records it as encryption context); keyring passes its
// non-secret metadata (key ids, statuses, creation times).
func MasterKey(ctx context.Context, uri string, opts ...Option) (*AEAD, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if err := checkURI(uri); err != nil {
		return nil, err
	}
	a := &AEAD{uri: uri, timeout: o.timeout}
	var err error
	switch {
	case strings.HasPrefix(uri, SchemeAWS):
		a.b, err = newAWS(ctx, uri, &o)
	case strings.HasPrefix(uri, SchemeGCP):
		a.b, err = newGCP(ctx, uri, &o)
	default: // SchemeVault
		var token string
		a.b, token, err = newVault(uri, &o)
		if token != "" {
			a.secrets = append(a.secrets, []byte(token))
		}
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Why a key URI is invalid: the only texts an ErrInvalidURI adds to the
// scheme, so that it never repeats any part of the URI.
const (
	whyAWS          = "want aws-kms://arn:PARTITION:kms:REGION:ACCOUNT:key/ID or …:alias/NAME"
	whyGCP          = "want gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K"
	whyVault        = "want hcvault://HOST[:PORT]/MOUNT/keys/NAME"
	whyVaultURL     = "not a URL"
	whyVaultUser    = "it holds a user or password; pass the token with WithVaultToken or VAULT_TOKEN"
	whyVaultQuery   = "it holds a query or a fragment"
	whyVaultSegment = "empty, . or .. path segment"
)

// checkURI returns ErrUnknownScheme or ErrInvalidURI if uri is not a key
// URI that MasterKey accepts, and nil otherwise. It contacts nothing and
// reads no configuration.
func checkURI(uri string) error {
	switch {
	case strings.HasPrefix(uri, SchemeAWS):
		if !awsARN.MatchString(strings.TrimPrefix(uri, SchemeAWS)) {
			return invalidURI("aws-kms", whyAWS)
		}
		return nil
	case strings.HasPrefix(uri, SchemeGCP):
		if !gcpKeyName.MatchString(strings.TrimPrefix(uri, SchemeGCP)) {
			return invalidURI("gcp-kms", whyGCP)
		}
		return nil
	case strings.HasPrefix(uri, SchemeVault):
		_, err := parseVaultURI(uri)
		return err
	default:
		return unknownScheme(uri)
	}
}

// unknownScheme names the scheme of uri if it looks like one, and nothing
// else of it.
func unknownScheme(uri string) error {
	scheme, _, ok := strings.Cut(uri, "://")
	if !ok || !isScheme(scheme) {
		return fmt.Errorf("%w: the value is not a key URI (want %s…, %s… or %s…)", ErrUnknownScheme, SchemeAWS, SchemeGCP, SchemeVault)
	}
	return fmt.Errorf("%w %q (want %s, %s or %s)", ErrUnknownScheme, scheme+"://", SchemeAWS, SchemeGCP, SchemeVault)
}

// isScheme reports whether s is a URI scheme (RFC 3986 section 3.1) of at
// most 32 characters.
func isScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// invalidURI returns an ErrInvalidURI for a URI of scheme, saying why
// without repeating the URI.
func invalidURI(scheme, why string) error {
	return fmt.Errorf("%w: %s key URI: %s", ErrInvalidURI, scheme, why)
}

// URI returns the key URI the AEAD was made for.
func (a *AEAD) URI() string { return a.uri }

// Encrypt encrypts plaintext with associatedData under the KMS key: one
// KMS call, bounded by the AEAD's timeout. Errors are *[Error].
func (a *AEAD) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	return a.EncryptWithContext(context.Background(), plaintext, associatedData)
}

// Decrypt decrypts ciphertext with associatedData under the KMS key: one
// KMS call, bounded by the AEAD's timeout. Errors are *[Error].
func (a *AEAD) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	return a.DecryptWithContext(context.Background(), ciphertext, associatedData)
}

// EncryptWithContext is Encrypt bounded also by ctx.
func (a *AEAD) EncryptWithContext(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	if !a.noLimits {
		maxPT, maxAD := a.b.limits()
		if maxPT > 0 && len(plaintext) > maxPT {
			return nil, &Error{Op: "encrypt", URI: a.uri, Kind: ErrTooLarge,
				Err: fmt.Errorf("%d bytes of plaintext, at most %d per call", len(plaintext), maxPT)}
		}
		if maxAD > 0 && len(associatedData) > maxAD {
			return nil, &Error{Op: "encrypt", URI: a.uri, Kind: ErrTooLarge,
				Err: fmt.Errorf("%d bytes of associated data, at most %d per call", len(associatedData), maxAD)}
		}
	}
	ctx, cancel := a.bound(ctx)
	defer cancel()
	ct, err := a.b.encrypt(ctx, plaintext, associatedData)
	if err != nil {
		return nil, a.fail("encrypt", err, plaintext)
	}
	return ct, nil
}

// DecryptWithContext is Decrypt bounded also by ctx.
func (a *AEAD) DecryptWithContext(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	ctx, cancel := a.bound(ctx)
	defer cancel()
	pt, err := a.b.decrypt(ctx, ciphertext, associatedData)
	if err != nil {
		return nil, a.fail("decrypt", err, nil)
	}
	return pt, nil
}

// Close releases the client's connections (the gRPC connection of a
// gcp-kms:// key). The AEAD must not be used afterwards.
func (a *AEAD) Close() error { return a.b.close() }

func (a *AEAD) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.timeout > 0 {
		return context.WithTimeout(ctx, a.timeout)
	}
	return context.WithCancel(ctx)
}

// fail builds the *Error of a failed call; plaintext is the plaintext of an
// encrypt call, which the error must not quote.
func (a *AEAD) fail(op string, err error, plaintext []byte) error {
	kind := a.b.kind(op, err)
	if kind == nil {
		kind = transportKind(err)
	}
	return &Error{Op: op, URI: a.uri, Kind: kind, Err: withhold(err, append([][]byte{plaintext}, a.secrets...)...)}
}
