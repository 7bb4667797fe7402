package kms

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/tink-crypto/tink-go-gcpkms/v2/integration/gcpkms"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// gcpMax is Cloud KMS's limit on Encrypt's plaintext and on its additional
// authenticated data.
const gcpMax = 64 << 10

// gcpKeyName matches the CryptoKey resource name of a gcp-kms:// URI.
var gcpKeyName = regexp.MustCompile(`^projects/[A-Za-z0-9.:_-]+/locations/[A-Za-z0-9_-]+/keyRings/[A-Za-z0-9_-]+/cryptoKeys/[A-Za-z0-9_-]+$`)

type gcpBackend struct {
	client *gcpkms.Client
	aead   tink.AEADWithContext
}

func newGCP(ctx context.Context, uri string, o *options) (backend, error) {
	if !gcpKeyName.MatchString(strings.TrimPrefix(uri, SchemeGCP)) {
		return nil, invalidURI("gcp-kms", whyGCP)
	}
	var copts []gcpkms.Option
	copts = append(copts, gcpkms.WithTransport(gcpkms.TransportGRPC))
	if len(o.gcpOptions) > 0 {
		copts = append(copts, gcpkms.WithGoogleAPIClientOptions(o.gcpOptions...))
	}
	c, err := gcpkms.NewClient(ctx, uri, copts...)
	if err != nil {
		return nil, &Error{Op: "open", URI: uri, Kind: transportKind(err), Err: err}
	}
	a, err := c.GetAEAD(uri)
	if err != nil {
		return nil, &Error{Op: "open", URI: uri, Err: errors.Join(err, c.Close())}
	}
	// GetAEAD's AEAD over gRPC embeds a tink.AEADWithContext.
	actx, ok := a.(tink.AEADWithContext)
	if !ok {
		return nil, &Error{Op: "open", URI: uri, Err: errors.Join(errors.New("the Cloud KMS AEAD takes no context"), c.Close())}
	}
	return &gcpBackend{client: c, aead: actx}, nil
}

func (b *gcpBackend) encrypt(ctx context.Context, pt, ad []byte) ([]byte, error) {
	return b.aead.EncryptWithContext(ctx, pt, ad)
}

func (b *gcpBackend) decrypt(ctx context.Context, ct, ad []byte) ([]byte, error) {
	return b.aead.DecryptWithContext(ctx, ct, ad)
}

func (b *gcpBackend) limits() (int, int) { return gcpMax, gcpMax }

func (b *gcpBackend) close() error { return b.client.Close() }

// kind classifies Cloud KMS's gRPC status codes.
func (b *gcpBackend) kind(op string, err error) error {
	s, ok := status.FromError(err)
	if !ok {
		return nil
	}
	switch s.Code() {
	case codes.PermissionDenied, codes.Unauthenticated:
		return ErrAccessDenied
	case codes.NotFound, codes.FailedPrecondition:
		return ErrKeyUnavailable
	case codes.InvalidArgument:
		// Decrypt answers INVALID_ARGUMENT for a ciphertext that does not
		// decrypt under the key.
		if op == "decrypt" {
			return ErrDecrypt
		}
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal, codes.Aborted:
		return ErrUnreachable
	}
	return nil
}
