package cli

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault/keyring"
)

// Where the master key comes from, in this order (the command line before
// the environment):
//
//  1. --master-key-uri URI: a key held by a KMS. Given with
//     --master-key-env, it is a usage error.
//  2. --master-key-env NAME, given explicitly: the environment variable
//     NAME; ACCOUNTVAULT_MASTER_KEY_URI is ignored.
//  3. ACCOUNTVAULT_MASTER_KEY_URI, if set and not empty: a key held by a
//     KMS.
//  4. ACCOUNTVAULT_MASTER_KEY (the default of --master-key-env).
//
// A KMS key needs a binary built with a resolver ([WithMasterKeyURI]): the
// one in the kms module. Without one, a KMS key URI is refused with a
// configuration error.
const envMasterKeyURI = "ACCOUNTVAULT_MASTER_KEY_URI"

// kmsBuildHint says how to get a binary that takes KMS key URIs.
const kmsBuildHint = `build the accountvault command of the kms module, which does: cd kms && go build -o accountvault ./cmd/accountvault (README, "Master key in a KMS")`

// A MasterKeyResolver returns the master key held by a KMS that uri names
// (aws-kms://…, gcp-kms://…, hcvault://…), without calling the KMS yet. The
// CLI uses the AEAD once per keyring load and once per save, never per row.
// If the AEAD is also an io.Closer, [Main] closes it before it returns.
//
// The messages of the errors it returns, and of the errors of the AEAD's
// Encrypt and Decrypt, are printed to the operator: they must not contain
// key material or credentials (those of package
// github.com/accountvault/accountvault/kms do not).
type MasterKeyResolver func(ctx context.Context, uri string) (tink.AEAD, error)

// An Option configures [Main].
type Option func(*options)

type options struct {
	resolveURI MasterKeyResolver
}

// WithMasterKeyURI makes Main accept master keys held by a KMS:
// --master-key-uri, ACCOUNTVAULT_MASTER_KEY_URI and, for 'keys remaster',
// --new-master-key-uri, each resolved by resolve. Without this option (the
// plain cmd/accountvault binary), they are refused with a configuration
// error (exit 2) that says how to build the binary of the kms module.
func WithMasterKeyURI(resolve MasterKeyResolver) Option {
	return func(o *options) { o.resolveURI = resolve }
}

// masterSource says where a master key comes from: a KMS key URI, or an
// environment variable holding a local master key.
type masterSource struct {
	// uri is the KMS key URI; "" for an environment variable.
	uri string
	// env is the environment variable holding a local master key (uri "").
	env string
	// from names the flag or variable that gave the source, for messages:
	// "--master-key-uri", "ACCOUNTVAULT_MASTER_KEY_URI",
	// "--new-master-key-uri".
	from string
}

// String names the master key for a message: "the master key in
// ACCOUNTVAULT_MASTER_KEY" or "the KMS master key aws-kms://…".
func (s masterSource) String() string {
	if s.uri != "" {
		return "the KMS master key " + s.uri
	}
	return "the master key in " + s.env
}

// where names the key's place, for "encrypted under the master key …".
func (s masterSource) where() string {
	if s.uri != "" {
		return s.uri + " (KMS)"
	}
	return "in " + s.env
}

// masterFlags are the values of the global master-key flags.
type masterFlags struct {
	uri    string // --master-key-uri
	env    string // --master-key-env
	uriSet bool   // --master-key-uri given
	envSet bool   // --master-key-env given
}

// resolveMasterSource applies the precedence above. It reads
// ACCOUNTVAULT_MASTER_KEY_URI; it opens nothing.
func resolveMasterSource(f masterFlags) (masterSource, error) {
	switch {
	case f.uriSet && f.envSet:
		return masterSource{}, usageErrorf("--master-key-uri and --master-key-env name two master keys: give one")
	case f.uriSet:
		if f.uri == "" {
			return masterSource{}, usageErrorf("--master-key-uri: empty key URI")
		}
		return masterSource{uri: f.uri, from: "--master-key-uri"}, nil
	case f.envSet:
		if f.env == "" {
			return masterSource{}, usageErrorf("--master-key-env: empty variable name")
		}
		return masterSource{env: f.env, from: "--master-key-env"}, nil
	}
	if uri := os.Getenv(envMasterKeyURI); uri != "" {
		return masterSource{uri: uri, from: envMasterKeyURI}, nil
	}
	return masterSource{env: defaultMasterKeyEnv, from: "--master-key-env"}, nil
}

// masterKey returns the master key the global flags name (see
// resolveMasterSource). Every failure is a configuration error.
func (c *cli) masterKey() (tink.AEAD, error) {
	return c.openMaster(c.master)
}

// openMaster returns the master key of s: the local key in its environment
// variable, or the KMS key of its URI through the resolver. Every failure
// is a configuration error whose message holds no secret. A KMS master key
// is wrapped so that the errors of its calls are recognised (kmsCallError)
// and closed when Main returns.
func (c *cli) openMaster(s masterSource) (tink.AEAD, error) {
	if s.uri == "" {
		return masterKeyFrom(s.env, s.from)
	}
	if c.opts.resolveURI == nil {
		return nil, configErr(fmt.Errorf("%s: this accountvault has no KMS support (it reads the master key from an environment variable only): %s", s.from, kmsBuildHint))
	}
	a, err := c.opts.resolveURI(c.sig, s.uri)
	if err != nil {
		// The resolver's errors do not repeat the URI (it may be
		// anything an operator pasted), nor does this message.
		return nil, configErr(fmt.Errorf("%s: %w", s.from, err))
	}
	if cl, ok := a.(io.Closer); ok {
		c.closers = append(c.closers, cl)
	}
	return &kmsMaster{aead: a, src: s}, nil
}

// masterKeyFrom reads the local master key in the environment variable env;
// flag is the flag that names the variable, for the message.
func masterKeyFrom(env, flag string) (tink.AEAD, error) {
	m, err := keyring.MasterKeyFromEnv(env)
	switch {
	case errors.Is(err, keyring.ErrNoMasterKey):
		return nil, configErr(fmt.Errorf("no master key: environment variable %s is not set (make one with 'accountvault keys master-key', or name another variable with %s)", env, flag))
	case err != nil: // ErrInvalidMasterKey: the message names the variable and the length only
		return nil, configErr(err)
	}
	return m, nil
}

// sameMaster reports whether a and b are the same master key: the same
// KMS key URI, or environment variables with the same value (compared in
// constant time).
func sameMaster(a, b masterSource) bool {
	switch {
	case a.uri != "" || b.uri != "":
		return a.uri == b.uri
	case a.env == b.env:
		return true
	}
	return subtle.ConstantTimeCompare([]byte(os.Getenv(a.env)), []byte(os.Getenv(b.env))) == 1
}

// closeMasters closes the KMS master keys opened during the run, and warns
// on stderr of a failure (the command's work is done by then).
func (c *cli) closeMasters() {
	for _, cl := range c.closers {
		if err := cl.Close(); err != nil {
			fmt.Fprintf(c.stderr, "accountvault: warning: closing the KMS client: %v\n", err)
		}
	}
	c.closers = nil
}

// kmsMaster is a master key held by a KMS, as the resolver returned it:
// its Encrypt and Decrypt errors become *kmsCallError, so that the CLI
// reports them as configuration errors wherever they surface (a load, a
// save, a remaster).
type kmsMaster struct {
	aead tink.AEAD
	src  masterSource
}

func (m *kmsMaster) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	ct, err := m.aead.Encrypt(plaintext, associatedData)
	if err != nil {
		return nil, &kmsCallError{op: "encrypt", src: m.src, err: err}
	}
	return ct, nil
}

func (m *kmsMaster) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	pt, err := m.aead.Decrypt(ciphertext, associatedData)
	if err != nil {
		return nil, &kmsCallError{op: "decrypt", src: m.src, err: err}
	}
	return pt, nil
}

// kmsCallError is the failure of a call to the KMS holding a master key:
// access denied or revoked, key disabled or deleted, KMS unreachable, or a
// keyring encrypted under another key. Its message is the resolver's
// error's.
type kmsCallError struct {
	op  string // "encrypt" or "decrypt"
	src masterSource
	err error
}

func (e *kmsCallError) Error() string { return e.err.Error() }
func (e *kmsCallError) Unwrap() error { return e.err }

// kmsError returns the configuration error for err if a call to a KMS
// master key failed in it, and nil otherwise. Nothing was saved when such
// a call failed: a load fails before any edit, a save before any write.
func (c *cli) kmsError(err error) error {
	var ke *kmsCallError
	if !errors.As(err, &ke) {
		return nil
	}
	what := "decrypt the " + c.keyringName()
	if ke.op == "encrypt" {
		what = "encrypt the " + c.keyringName() + " (nothing was saved)"
	}
	key := "the KMS master key (" + ke.src.from + ")"
	if msg := ke.err.Error(); !strings.Contains(msg, ke.src.uri) {
		// The KMS's error names the key itself (package kms's do).
		key = ke.src.String() + " (" + ke.src.from + ")"
	}
	return configErr(&messageError{
		msg: fmt.Sprintf("%s could not %s: %v\n(check the key and the application's access to it in the KMS: SECURITY.md, \"Revoking the application's KMS access\")",
			key, what, ke.err),
		err: err,
	})
}
