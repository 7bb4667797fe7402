package kms

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
)

// Sentinel errors. Every error of this package wraps one of them where the
// failure is known to be of that class, so callers test with [errors.Is],
// also through keyring.LoadFile, which wraps the master key's error.
//
// No error of this package contains key material, a plaintext, a
// credential or a ciphertext: see [Error].
var (
	// ErrUnknownScheme: the key URI does not start with aws-kms://,
	// gcp-kms:// or hcvault://. Nothing was contacted.
	ErrUnknownScheme = errors.New("kms: unknown key URI scheme")

	// ErrInvalidURI: the key URI has a known scheme but is malformed: not an
	// AWS KMS key or alias ARN, not a Cloud KMS CryptoKey name, not an
	// https Vault Transit key path, or it holds credentials, a query or a
	// fragment. Nothing was contacted.
	ErrInvalidURI = errors.New("kms: invalid key URI")

	// ErrUnreachable: the KMS did not answer, or answered that it cannot
	// serve now: connection refused, name resolution, TLS handshake or
	// certificate verification, a timeout (the error also wraps
	// context.DeadlineExceeded), throttling, an HTTP 5xx, gRPC UNAVAILABLE,
	// a sealed Vault. Often transient; retrying later may succeed.
	ErrUnreachable = errors.New("kms: KMS unreachable")

	// ErrAccessDenied: the KMS refused the caller's credentials or
	// permissions: AWS AccessDeniedException and signature or token errors
	// (AWS also answers AccessDeniedException for a ciphertext whose key
	// does not exist in the account), gRPC PERMISSION_DENIED or
	// UNAUTHENTICATED, HTTP 401 or 403 from Vault. This is what revoking the
	// application's access to the key gives.
	ErrAccessDenied = errors.New("kms: access denied")

	// ErrKeyUnavailable: the KMS knows the caller but cannot use the key:
	// it does not exist, is disabled, is pending deletion, its key material
	// is unavailable, its usage is not encryption, or (Vault) the key
	// version the ciphertext needs is below the key's minimum decryption
	// version. Disabling or scheduling the deletion of the key gives this.
	ErrKeyUnavailable = errors.New("kms: key unavailable")

	// ErrDecrypt: the KMS refused to decrypt the ciphertext with the key:
	// it was made with another key, or it or its associated data were
	// modified.
	ErrDecrypt = errors.New("kms: ciphertext does not decrypt under the key")

	// ErrTooLarge: the plaintext or the associated data exceeds what the
	// KMS encrypts in one call (AWS KMS: 4096 bytes of plaintext, that is a
	// keyring of at most 38 XAES-256-GCM keys; Cloud KMS: 64 KiB of each). Nothing was
	// sent.
	ErrTooLarge = errors.New("kms: plaintext too large for the KMS")
)

// Error is the error of a call to a KMS. It unwraps to one of the sentinel
// errors above (Kind; nil if the failure fits none of them) and to the
// error of the KMS client (Err).
//
// Err is the client's own error, so errors.As reaches its types (for
// example smithy-go's APIError, a gRPC status, vault/api's ResponseError).
// If the client's message quoted the plaintext of an Encrypt call or a
// credential this package knows (a Vault token), in raw, base64 or hex
// form, Err is replaced by an error saying that the message was withheld,
// and the client's error is dropped: some servers echo a request's
// plaintext in validation errors.
type Error struct {
	// Op is the operation: "encrypt", "decrypt" or "open" (building the
	// client in MasterKey).
	Op string

	// URI is the key URI. It never holds credentials: MasterKey refuses
	// URIs with a user or password.
	URI string

	// Kind is ErrUnreachable, ErrAccessDenied, ErrKeyUnavailable,
	// ErrDecrypt, ErrTooLarge or nil.
	Kind error

	// Err is the client's error, the notice that replaced it, or, for a
	// failure found before any call (ErrTooLarge), its description.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("kms: ")
	b.WriteString(e.Op)
	b.WriteString(" with ")
	b.WriteString(e.URI)
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Kind.Error(), "kms: "))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Kind and Err, those that are not nil.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// transportKind classifies the failures common to every client: timeouts,
// network and TLS errors. It returns nil for anything else.
func transportKind(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrUnreachable
	}
	var (
		netErr  net.Error
		certErr *tls.CertificateVerificationError
		authErr x509.UnknownAuthorityError
		hostErr x509.HostnameError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &netErr), errors.As(err, &certErr), errors.As(err, &authErr),
		errors.As(err, &hostErr), errors.As(err, &recErr):
		return ErrUnreachable
	}
	return nil
}
