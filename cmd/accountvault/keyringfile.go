package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault/keyring"
)

// masterKey reads the master key from the environment variable named by
// --master-key-env. Every failure is a configuration error; no message
// contains the variable's value.
func (c *cli) masterKey() (tink.AEAD, error) {
	return masterKeyFrom(c.masterKeyEnv, "--master-key-env")
}

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

func (c *cli) loadOptions() []keyring.LoadOption {
	if c.allowInsecure {
		return []keyring.LoadOption{keyring.AllowInsecurePermissions()}
	}
	return nil
}

// loadKeyring loads the keyring file under the master key. Every failure
// is a configuration error.
func (c *cli) loadKeyring() (*keyring.Keyring, tink.AEAD, error) {
	master, err := c.masterKey()
	if err != nil {
		return nil, nil, err
	}
	k, err := c.loadKeyringWith(master, c.masterKeyEnv)
	if err != nil {
		return nil, nil, err
	}
	return k, master, nil
}

func (c *cli) loadKeyringWith(master tink.AEAD, env string) (*keyring.Keyring, error) {
	k, err := keyring.LoadFile(c.keyringPath, master, c.loadOptions()...)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, configErr(fmt.Errorf("keyring file %s does not exist: create one with 'accountvault keys init --keyring %s', or point --keyring (or %s) at yours", c.keyringPath, c.keyringPath, envKeyring))
	case errors.Is(err, keyring.ErrWrongMasterKey):
		return nil, configErr(fmt.Errorf("the master key in %s does not open the keyring file %s (wrong master key, or the file was modified)", env, c.keyringPath))
	case errors.Is(err, keyring.ErrInsecurePermissions):
		return nil, configErr(c.insecureKeyringError(err))
	case err != nil:
		return nil, configErr(fmt.Errorf("loading keyring: %w", err))
	}
	return k, nil
}

// saveKeyring replaces the keyring file atomically (mode 0600).
func (c *cli) saveKeyring(k *keyring.Keyring, master tink.AEAD) error {
	if err := k.SaveFile(c.keyringPath, master); err != nil {
		return failedErr(fmt.Errorf("saving keyring: %w", err))
	}
	return nil
}

// audit logs a key event with the operator's user name.
func (c *cli) audit(msg string, args ...any) {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	c.log.Info(msg, append([]any{"keyring", c.keyringPath, "user", name}, args...)...)
}

// createExclusive creates path (mode 0600) and fails if it exists, so that
// init never replaces a keyring file, even one created concurrently. The
// empty file is replaced atomically by the keyring; remove removes it if
// saving fails.
func createExclusive(path string) (remove func() error, err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, errors.Join(err, os.Remove(path))
	}
	return func() error { return os.Remove(path) }, nil
}

// insecureKeyringError returns the CLI's own message for err, a refusal
// (keyring.ErrInsecurePermissions) of the keyring file for its mode: the
// keyring package's message names its Go option, not the CLI flag. The
// result wraps err.
func (c *cli) insecureKeyringError(err error) error {
	file := "keyring file " + c.keyringPath
	if fi, serr := os.Stat(c.keyringPath); serr == nil {
		file += fmt.Sprintf(" has mode %04o", fi.Mode().Perm())
	}
	return &messageError{
		msg: fmt.Sprintf("%s: group or others can access it (chmod 600 %s, or pass --allow-insecure-permissions)", file, shellQuote(c.keyringPath)),
		err: err,
	}
}

// messageError is an error with its own message that wraps another, whose
// message it replaces.
type messageError struct {
	msg string
	err error
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.err }
