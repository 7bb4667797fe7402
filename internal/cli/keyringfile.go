package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"slices"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

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
	k, err := c.loadKeyringWith(master, c.master)
	if err != nil {
		return nil, nil, err
	}
	return k, master, nil
}

func (c *cli) loadKeyringWith(master tink.AEAD, src masterSource) (*keyring.Keyring, error) {
	if c.keyringDB {
		var k *keyring.Keyring
		err := c.withDBKeyring(func(ctx context.Context, d *store.DBKeyring) (err error) {
			k, err = d.Load(ctx, master)
			return err
		})
		if err != nil {
			return nil, c.loadKeyringError(err, src)
		}
		return k, nil
	}
	k, err := keyring.LoadFile(c.keyringPath, master, c.loadOptions()...)
	if err != nil {
		return nil, c.loadKeyringError(err, src)
	}
	return k, nil
}

// loadKeyringError is the configuration error for a failure to load the
// keyring under the master key of src.
func (c *cli) loadKeyringError(err error, src masterSource) error {
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return err
	case c.kmsError(err) != nil:
		return c.kmsError(err)
	case c.keyringDB && errors.Is(err, keyring.ErrNoKeyring):
		return configErr(fmt.Errorf("no keyring is stored beside table %q in %s: create one with %s (or move a keyring file there: add --from FILE)",
			c.kdb.table, redactDB(c.kdb.db), c.command("keys", "init").db(c.kdb)))
	case c.keyringDB && errors.Is(err, keyring.ErrWrongMasterKey):
		return configErr(fmt.Errorf("%s does not open the %s (wrong master key, or it was modified)", src, c.keyringName()))
	case c.keyringDB && errors.Is(err, keyring.ErrKeyringCorrupt):
		return configErr(fmt.Errorf("the %s: %w", c.keyringName(), err))
	case c.keyringDB:
		return configErr(fmt.Errorf("loading the %s: %w", c.keyringName(), err))
	case errors.Is(err, fs.ErrNotExist):
		return configErr(fmt.Errorf("keyring file %s does not exist: create one with 'accountvault keys init --keyring %s', or point --keyring (or %s) at yours", c.keyringPath, c.keyringPath, envKeyring))
	case errors.Is(err, keyring.ErrWrongMasterKey):
		return configErr(fmt.Errorf("%s does not open the keyring file %s (wrong master key, or the file was modified)", src, c.keyringPath))
	case errors.Is(err, keyring.ErrInsecurePermissions):
		return configErr(c.insecureKeyringError(err))
	default:
		return configErr(fmt.Errorf("loading keyring: %w", err))
	}
}

// editKeyringFile edits the keyring file with keyring.EditFile: under the
// file's lock, edit runs on the keyring as the file holds it now, and the
// result replaces the file (atomically, keeping its owner, group and mode)
// unless the file changed meanwhile. Failures to load are configuration
// errors; an edit refused with keyring.ErrKeyNotFound or ErrKeyState too;
// a file changed meanwhile (keyring.ErrChangedMeanwhile) says "run again"
// with exit code 1. saveMaster, if not nil, re-encrypts the file under
// another master key (keyring.RemasterFile; edit is then nil).
func (c *cli) editKeyringFile(master, saveMaster tink.AEAD, edit func(k *keyring.Keyring) error) (*keyring.Keyring, error) {
	if c.keyringDB {
		return c.editDBKeyring(master, saveMaster, edit)
	}
	var editErr error
	loaded := false
	var k *keyring.Keyring
	var err error
	if saveMaster != nil {
		k, err = keyring.RemasterFile(c.sig, c.keyringPath, master, saveMaster, c.loadOptions()...)
		// RemasterFile calls no edit to tell loading from saving.
		loaded = !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, keyring.ErrWrongMasterKey) &&
			!errors.Is(err, keyring.ErrKeyringCorrupt) && !errors.Is(err, keyring.ErrEmptyKeyring) &&
			!errors.Is(err, keyring.ErrInsecurePermissions) && !errors.Is(err, context.Canceled)
	} else {
		k, err = keyring.EditFile(c.sig, c.keyringPath, master, func(k *keyring.Keyring) error {
			loaded = true
			editErr = edit(k)
			return editErr
		}, c.loadOptions()...)
	}
	switch {
	case err == nil:
		return k, nil
	case errors.Is(err, keyring.ErrChangedMeanwhile):
		return nil, failedErr(&messageError{
			msg: fmt.Sprintf("keyring file %s changed meanwhile (another edit, or a copy, replaced it): nothing was saved; changed meanwhile: run again", c.keyringPath),
			err: err,
		})
	case !loaded && c.interrupted():
		return nil, errInterrupted
	case !loaded:
		return nil, c.loadKeyringError(err, c.master)
	case c.kmsError(err) != nil:
		return nil, c.kmsError(err)
	case editErr != nil && (errors.Is(err, keyring.ErrKeyNotFound) || errors.Is(err, keyring.ErrKeyState)):
		return nil, configErr(err)
	case editErr != nil:
		return nil, err
	default:
		return nil, failedErr(fmt.Errorf("saving keyring: %w", err))
	}
}

// unchangedSince returns keyring.ErrChangedMeanwhile (wrapped) unless k,
// the keyring file as it is now, is the keyring loaded earlier: same
// generation, same keys in the same statuses.
func unchangedSince(k, loaded *keyring.Keyring) error {
	if k.Generation() != loaded.Generation() || !slices.Equal(k.Keys(), loaded.Keys()) {
		return fmt.Errorf("keyring generation %d, loaded at generation %d: %w", k.Generation(), loaded.Generation(), keyring.ErrChangedMeanwhile)
	}
	return nil
}

// audit logs a key event with the operator's user name; during a keyring
// edit, once the edit is saved.
func (c *cli) audit(msg string, args ...any) {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	event := func() { c.log.Info(msg, append([]any{"keyring", c.keyringPath, "user", name}, args...)...) }
	if c.heldAudit != nil {
		*c.heldAudit = append(*c.heldAudit, event)
		return
	}
	event()
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

// keyringName names the keyring in use for a message: its file, or the
// database keyring of --table in --db.
func (c *cli) keyringName() string {
	if c.keyringDB {
		return fmt.Sprintf("database keyring of table %q in %s", c.kdb.table, redactDB(c.kdb.db))
	}
	return "keyring " + c.keyringPath
}

// keyringShort is the keyring file, or "the database keyring".
func (c *cli) keyringShort() string {
	if c.keyringDB {
		return "the database keyring"
	}
	return c.keyringPath
}

// distributeHint says how replicas get an edited keyring.
func (c *cli) distributeHint() string {
	if c.keyringDB {
		return "replicas that watch the database keyring load it within their poll interval (at once on Postgres)"
	}
	return "distribute " + c.keyringPath
}

// withDBKeyring opens --db and calls f with the database keyring of
// --table, then closes the database. Failures to open are configuration
// errors.
func (c *cli) withDBKeyring(f func(ctx context.Context, d *store.DBKeyring) error) (err error) {
	if c.kdb.db == "" {
		return usageErrorf("--keyring db keeps the keyring in the database: give --db (and --table) with it")
	}
	ctx := c.sig
	db, err := c.openDB(ctx, c.kdb, false)
	if err != nil {
		return err
	}
	defer closeDB(db, &err)
	d, err := store.NewDBKeyring(db.backend)
	if err != nil {
		return configErr(err)
	}
	return f(ctx, d)
}

// editDBKeyring is editKeyringFile for the database keyring: compare-and-
// swap on the stored keyring (store.DBKeyring.Edit), retried on a fresh
// load when another edit came first, then a notification to the replicas
// that listen. A notification that fails is a warning: the edit is saved,
// and replicas load it at their next poll.
func (c *cli) editDBKeyring(master, saveMaster tink.AEAD, edit func(k *keyring.Keyring) error) (*keyring.Keyring, error) {
	var (
		k       *keyring.Keyring
		editErr error
		loaded  bool
	)
	err := c.withDBKeyring(func(ctx context.Context, d *store.DBKeyring) (err error) {
		if saveMaster != nil {
			k, err = d.Remaster(ctx, master, saveMaster)
			loaded = err == nil || errors.Is(err, store.ErrNotNotified)
			return err
		}
		k, err = d.Edit(ctx, master, func(k *keyring.Keyring) error {
			loaded = true
			editErr = edit(k)
			return editErr
		})
		return err
	})
	switch {
	case err == nil:
		return k, nil
	case errors.Is(err, store.ErrNotNotified) && k != nil:
		fmt.Fprintf(c.stderr, "accountvault: warning: %v\n", err)
		return k, nil
	case errors.Is(err, keyring.ErrRollback):
		return nil, configErr(fmt.Errorf("%w\n(if every copy of the newer keyring is truly lost, see the runbook \"Recovery from a lost keyring\" in SECURITY.md)", err))
	case errors.Is(err, keyring.ErrChangedMeanwhile):
		return nil, failedErr(&messageError{
			msg: fmt.Sprintf("the %s was changed by other edits at every attempt: nothing was saved; changed meanwhile: run again", c.keyringName()),
			err: err,
		})
	case !loaded && c.interrupted():
		return nil, errInterrupted
	case !loaded:
		return nil, c.loadKeyringError(err, c.master)
	case c.kmsError(err) != nil:
		return nil, c.kmsError(err)
	case editErr != nil && (errors.Is(err, keyring.ErrKeyNotFound) || errors.Is(err, keyring.ErrKeyState)):
		return nil, configErr(err)
	case editErr != nil:
		return nil, err
	default:
		return nil, failedErr(fmt.Errorf("saving the %s: %w", c.keyringName(), err))
	}
}

// initDBKeyring is 'keys init --keyring db': it migrates the table (so
// that its metadata table exists), then stores a new keyring, or the
// keyring of the file from, as the table's database keyring, refusing to
// replace one.
func (c *cli) initDBKeyring(master tink.AEAD, from string) (err error) {
	var k *keyring.Keyring
	if from != "" {
		if k, err = keyring.LoadFile(from, master, c.loadOptions()...); err != nil {
			if kerr := c.kmsError(err); kerr != nil {
				return kerr
			}
			return configErr(fmt.Errorf("loading keyring file %s: %w", from, err))
		}
	} else if k, err = keyring.Generate(); err != nil {
		return err
	}
	if c.kdb.db == "" {
		return usageErrorf("--keyring db keeps the keyring in the database: give --db (and --table) with it")
	}
	ctx := c.sig
	db, err := c.openDB(ctx, c.kdb, true)
	if err != nil {
		return err
	}
	defer closeDB(db, &err)
	if err := db.backend.Migrate(ctx); err != nil {
		if c.interrupted() {
			return errInterrupted
		}
		return configErr(fmt.Errorf("table %q in %s: %w (a table accountvault did not create: adopt it with 'accountvault migrate' and a keyring file first, then move that keyring here with 'keys init --keyring db --from FILE')", c.kdb.table, db.name, err))
	}
	d, err := store.NewDBKeyring(db.backend)
	if err != nil {
		return configErr(err)
	}
	err = d.Create(ctx, k, master)
	switch {
	case errors.Is(err, store.ErrNotNotified):
		fmt.Fprintf(c.stderr, "accountvault: warning: %v\n", err)
	case c.kmsError(err) != nil:
		return c.kmsError(err)
	case errors.Is(err, keyring.ErrChangedMeanwhile):
		return configErr(fmt.Errorf("a keyring is stored beside table %q in %s already: init never replaces a keyring (its keys may protect data)", c.kdb.table, db.name))
	case err != nil:
		return failedErr(fmt.Errorf("storing the keyring: %w", err))
	}
	if from != "" {
		c.audit("accountvault: keyring file moved into the database", "from", from, "generation", k.Generation(), "primary_key_id", k.Primary())
		fmt.Fprintf(c.stdout, "stored the keyring of %s (generation %d, primary key %d) as the %s\nnext: make the replicas watch the database keyring, then remove %s and its copies\n",
			from, k.Generation(), k.Primary(), c.keyringName(), from)
		return nil
	}
	c.audit("accountvault: keyring created", "primary_key_id", k.Primary())
	fmt.Fprintf(c.stdout, "created the %s with primary key %d\n", c.keyringName(), k.Primary())
	return nil
}
