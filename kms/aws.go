package kms

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awskmsapi "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/tink-crypto/tink-go-awskms/v3/integration/awskms"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// awsMaxPlaintext is AWS KMS's limit on Encrypt's plaintext. A keyring
// serializes to about 102 bytes per AES-256-GCM key and about 107 per
// XAES-256-GCM key: at most 38 of the keys new keyrings hold.
const awsMaxPlaintext = 4096

// awsARN matches the key or alias ARN of an aws-kms:// URI and captures its
// region.
var awsARN = regexp.MustCompile(`^arn:aws[a-z-]*:kms:([a-z0-9-]+):[0-9]{12}:(key|alias)/[A-Za-z0-9/_+=.@-]+$`)

type awsBackend struct {
	aead tink.AEADWithContext
}

func newAWS(ctx context.Context, uri string, o *options) (backend, error) {
	arn := strings.TrimPrefix(uri, SchemeAWS)
	m := awsARN.FindStringSubmatch(arn)
	if m == nil {
		return nil, invalidURI("aws-kms", whyAWS)
	}
	region := m[1]
	var cfg aws.Config
	if o.awsConfig != nil {
		cfg = o.awsConfig.Copy()
		cfg.Region = region
	} else {
		var err error
		cfg, err = config.LoadDefaultConfig(ctx, config.WithRegion(region))
		if err != nil {
			return nil, &Error{Op: "open", URI: uri, Kind: transportKind(err), Err: err}
		}
	}
	aead, err := awskms.NewAEADWithContext(ctx, arn,
		awskms.WithKMS(awskmsapi.NewFromConfig(cfg)),
		awskms.WithEncryptionContextName(awskms.AssociatedData))
	if err != nil {
		return nil, &Error{Op: "open", URI: uri, Err: err}
	}
	return &awsBackend{aead: aead}, nil
}

func (b *awsBackend) encrypt(ctx context.Context, pt, ad []byte) ([]byte, error) {
	return b.aead.EncryptWithContext(ctx, pt, ad)
}

func (b *awsBackend) decrypt(ctx context.Context, ct, ad []byte) ([]byte, error) {
	return b.aead.DecryptWithContext(ctx, ct, ad)
}

func (b *awsBackend) limits() (int, int) { return awsMaxPlaintext, 0 }

func (b *awsBackend) close() error { return nil }

// kind classifies AWS KMS's error codes
// (https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html and
// the Encrypt and Decrypt references) and the SDK's send errors.
func (b *awsBackend) kind(_ string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
			"IncompleteSignature", "MissingAuthenticationToken", "ExpiredTokenException",
			"InvalidClientTokenId", "NotAuthorized", "SignatureDoesNotMatch", "OptInRequired":
			return ErrAccessDenied
		case "DisabledException", "KMSInvalidStateException", "NotFoundException",
			"KeyUnavailableException", "InvalidKeyUsageException":
			return ErrKeyUnavailable
		case "InvalidCiphertextException", "IncorrectKeyException":
			return ErrDecrypt
		case "DependencyTimeoutException", "KMSInternalException", "ThrottlingException",
			"ServiceUnavailable", "InternalFailure":
			return ErrUnreachable
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500 {
		return ErrUnreachable
	}
	var sendErr *smithyhttp.RequestSendError
	if errors.As(err, &sendErr) {
		return ErrUnreachable
	}
	return nil
}
