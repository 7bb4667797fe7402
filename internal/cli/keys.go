package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

func (c *cli) keysCmd() *cobra.Command {
	cmd := groupCmd("keys", "Create and edit the keyring of key-encryption keys",
		`The keyring file holds the key-encryption keys (KEKs) that wrap every row's
data key, encrypted under the master key. Each key is staged, primary,
decrypt-only or disabled.

Rotation across replicas: 'keys stage', distribute the file and let every
replica reload it, 'keys promote ID', distribute again, 'rewrap', 'check',
then 'keys disable OLD_ID --db ...' and later 'keys delete OLD_ID --db ...'.
See SECURITY.md.

Every command but master-key reads the master key: from the environment
variable named by --master-key-env, or from a KMS (--master-key-uri or
$ACCOUNTVAULT_MASTER_KEY_URI: the kms module's binary). Every edit locks the file against
other edits, replaces it atomically (a symbolic link is kept and the file
it names replaced; the file's owner, group and mode are kept; a new file is
0600) and increments the keyring's generation. An edit that finds the file
replaced meanwhile saves nothing and says "changed meanwhile: run again"
(exit code 1).

With --keyring db, the keyring is the database keyring: kept, encrypted
under the master key, in the database of --db beside --table, and every
command here takes --db and --table. 'keys init --keyring db' creates it (or
moves a keyring file there with --from FILE). Edits are compare-and-swap in
the database: one that another edit overtakes is redone on the newer keyring
(up to 5 times, then "changed meanwhile: run again"); no lock file, no file to
distribute. Replicas that watch it (store.Admin.WatchKeyring) load each edit
within their poll interval, or at once on Postgres (LISTEN/NOTIFY).

`+exitCodesHelp)
	cmd.AddCommand(
		c.keysMasterKeyCmd(),
		c.keysInitCmd(),
		c.keysListCmd(),
		c.keysStageCmd(),
		c.keysPromoteCmd(),
		c.keysRotateCmd(),
		c.keysRetireCmd("disable"),
		c.keysRetireCmd("delete"),
		c.keysEnableCmd(),
		c.keysRemasterCmd(),
		c.keysOverrideGenerationCmd(),
	)
	return cmd
}

func (c *cli) keysMasterKeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "master-key",
		Short: "Print a new random master key",
		Long: `master-key prints a new master key (base64 of 32 random bytes) on stdout, and
nothing else there, for example:

  export ACCOUNTVAULT_MASTER_KEY=$(accountvault keys master-key)

The master key encrypts the keyring file. Keep it in a secret manager, apart
from the keyring file and from database backups; losing it loses every
token. accountvault never writes it anywhere.

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			k, err := keyring.NewMasterKey()
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintln(c.stdout, k); err != nil {
				return err
			}
			// Neutral: the key may be the first one, or the new one of
			// a master key rotation.
			if c.master.uri != "" {
				// The keyring is under a KMS key: a local key is for
				// moving it off the KMS.
				fmt.Fprintf(c.stderr, "accountvault: printed a new master key on stdout (it is not written anywhere else): store this master key in your secret manager; to move the keyring from the KMS key to it, export it as %s and see 'accountvault keys remaster'\n", envNewMasterKey)
				return nil
			}
			rotating := fmt.Sprintf(" (or %s when rotating: see 'accountvault keys remaster')", envNewMasterKey)
			if c.master.env == envNewMasterKey {
				rotating = ""
			}
			fmt.Fprintf(c.stderr, "accountvault: printed a new master key on stdout (it is not written anywhere else): store this master key in your secret manager; export it as %s%s\n", c.master.env, rotating)
			return nil
		}),
	}
}

func (c *cli) keysInitCmd() *cobra.Command {
	var (
		f    dbFlags
		from string
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new keyring (file or database) with one primary key",
		Long: `init creates the keyring file (--keyring) with one fresh primary key,
encrypted under the master key, mode 0600. It refuses to replace an existing
file.

With --keyring db it creates the database keyring of --table in --db instead
(running the table's migration first, which creates the table if it does not
exist), and refuses to replace one already stored. With --from FILE it stores
the keyring of that file (same keys, same generation) instead of a new one:
how a keyring file moves into the database. Replicas then watch the database
keyring (store.Admin.WatchKeyring) instead of the file.

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			master, err := c.masterKey()
			if err != nil {
				return err
			}
			if from != "" && !c.keyringDB {
				return usageErrorf("--from moves a keyring file into the database: give it with --keyring db")
			}
			if c.keyringDB {
				return c.initDBKeyring(master, from)
			}
			k, err := keyring.Generate()
			if err != nil {
				return err
			}
			remove, err := createExclusive(c.keyringPath)
			if errors.Is(err, fs.ErrExist) {
				return configErr(fmt.Errorf("keyring file %s exists already: init never replaces a keyring (its keys may protect data)", c.keyringPath))
			}
			if err != nil {
				return configErr(fmt.Errorf("creating keyring file: %w", err))
			}
			if err := k.SaveFile(c.keyringPath, master); err != nil {
				if kerr := c.kmsError(err); kerr != nil {
					if rerr := remove(); rerr != nil {
						return failedErr(errors.Join(kerr, rerr))
					}
					return kerr
				}
				return failedErr(errors.Join(fmt.Errorf("saving keyring: %w", err), remove()))
			}
			c.audit("accountvault: keyring created", "primary_key_id", k.Primary())
			fmt.Fprintf(c.stdout, "created keyring %s with primary key %d\n", c.keyringPath, k.Primary())
			return nil
		}),
	}
	f.add(cmd, false)
	cmd.Flags().StringVar(&from, "from", "", "with --keyring db: store the keyring of this `file` instead of a new one")
	return cmd
}

// keyJSON is one key in 'keys list --json'.
type keyJSON struct {
	ID      uint32    `json:"id"`
	Status  string    `json:"status"`
	Created time.Time `json:"created"`
}

func (c *cli) keysListCmd() *cobra.Command {
	var (
		asJSON bool
		f      dbFlags
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the keys: id, status, creation time",
		Long: `list prints every key of the keyring, oldest first: its id (the id stored in
every value it protects), its status and when it was created (UTC); then the
keyring's generation, which every edit raises and which stores refuse to see
go back (the figure to compare when recovering from a lost keyring).

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			k, _, err := c.loadKeyring()
			if err != nil {
				return err
			}
			keys := k.Keys()
			if asJSON {
				out := make([]keyJSON, len(keys))
				for i, ki := range keys {
					out[i] = keyJSON{ID: ki.ID, Status: ki.Status.String(), Created: ki.Created}
				}
				enc := json.NewEncoder(c.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tCREATED")
			for _, ki := range keys {
				fmt.Fprintf(tw, "%d\t%s\t%s\n", ki.ID, ki.Status, ki.Created.UTC().Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.stdout, "generation %d\n", k.Generation())
			return err
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	f.addKeyring(cmd)
	return cmd
}

func (c *cli) keysStageCmd() *cobra.Command {
	var f dbFlags
	cmd := &cobra.Command{
		Use:   "stage",
		Short: "Add a new key, staged: it unwraps but does not wrap yet",
		Long: `stage adds a fresh key in status staged and prints its id. A staged key can
unwrap but never wraps, so nothing depends on it yet. Distribute the file to
every replica, wait until each has reloaded it (audit event "accountvault:
keyring loaded" listing the id in key_ids), then run 'keys promote ID'.

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.editKeyring(func(k *keyring.Keyring) (string, error) {
				id, err := k.Stage()
				if err != nil {
					return "", err
				}
				c.audit("accountvault: key staged", "key_id", id)
				next := c.command("keys", "promote", strconv.FormatUint(uint64(id), 10))
				return fmt.Sprintf("staged key %d\nnext: %s, wait for every replica to reload it, %s", id, c.distributeHint(), next.hint("then")), nil
			})
		}),
	}
	f.addKeyring(cmd)
	return cmd
}

func (c *cli) keysPromoteCmd() *cobra.Command {
	var f dbFlags
	cmd := &cobra.Command{
		Use:   "promote ID",
		Short: "Make a staged or decrypt-only key the primary key",
		Long: `promote makes key ID the primary key, the one that wraps new data keys; the
former primary becomes decrypt-only. Promote only a key that every replica
has loaded already (see 'keys stage'). Then distribute the file, and run
'rewrap' to move the old rows onto the new key.

` + exitCodesHelp,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			id, err := parseKeyID(args[0])
			if err != nil {
				return err
			}
			return c.editKeyring(func(k *keyring.Keyring) (string, error) {
				old := k.Primary()
				if err := k.Promote(id); err != nil {
					return "", err
				}
				c.audit("accountvault: key promoted", "key_id", id, "former_primary_key_id", old)
				if old == id {
					return fmt.Sprintf("key %d is the primary key already", id), nil
				}
				return fmt.Sprintf("key %d is now primary; key %d is decrypt-only\nnext: %s, %s", id, old, c.distributeHint(), c.command("rewrap").anyDB().hint("then")), nil
			})
		}),
	}
	f.addKeyring(cmd)
	return cmd
}

func (c *cli) keysRotateCmd() *cobra.Command {
	var f dbFlags
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Stage and promote a new key in one step",
		Long: `rotate adds a fresh key and makes it primary at once; the former primary
becomes decrypt-only. A replica that has not reloaded the file fails to open
rows written with the new key until it does: with several replicas, prefer
'keys stage', reload everywhere, then 'keys promote'. Then run 'rewrap'.

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.editKeyring(func(k *keyring.Keyring) (string, error) {
				old := k.Primary()
				id, err := k.Rotate()
				if err != nil {
					return "", err
				}
				c.audit("accountvault: key rotated", "key_id", id, "former_primary_key_id", old)
				return fmt.Sprintf("key %d is now primary; key %d is decrypt-only\nnext: %s, %s", id, old, c.distributeHint(), c.command("rewrap").anyDB().hint("then")), nil
			})
		}),
	}
	f.addKeyring(cmd)
	return cmd
}

func (c *cli) keysEnableCmd() *cobra.Command {
	var f dbFlags
	cmd := &cobra.Command{
		Use:   "enable ID",
		Short: "Make a disabled key decrypt-only again",
		Long: `enable makes the disabled key ID decrypt-only again: it unwraps the values
it protects, and can be promoted.

` + exitCodesHelp,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			id, err := parseKeyID(args[0])
			if err != nil {
				return err
			}
			return c.editKeyring(func(k *keyring.Keyring) (string, error) {
				if err := k.Enable(id); err != nil {
					return "", err
				}
				c.audit("accountvault: key enabled", "key_id", id)
				return fmt.Sprintf("key %d is decrypt-only", id), nil
			})
		}),
	}
	f.addKeyring(cmd)
	return cmd
}

// keysRetireCmd returns 'keys disable' or 'keys delete'.
func (c *cli) keysRetireCmd(verb string) *cobra.Command {
	var (
		f     dbFlags
		force bool
		batch int
	)
	var short, long string
	if verb == "disable" {
		short = "Disable a key, after checking that no stored value uses it"
		long = `disable makes key ID disabled: it neither wraps nor unwraps. The primary key
cannot be disabled (promote another first): that is refused with exit code 2,
before anything is counted. With --db, disable then counts the values of
--table that name the key (a parse of every row, nothing is opened) and
refuses, with exit code 1, while any does: run 'rewrap' and 'check' first.
Without --db it requires --force, which skips the count: values still under
the key become unreadable until 'keys enable'. A disabled key can be enabled
again, or deleted with 'keys delete'. Distribute the file afterwards.

`
	} else {
		short = "Delete a disabled key, after checking that no stored value uses it"
		long = `delete removes the disabled key ID from the keyring for good: whatever it
still protects is lost. Only a disabled key can be deleted: any other is
refused with exit code 2, before anything is counted, whatever uses it.
Disable it first and keep it disabled long enough to be sure nothing needs
it. With --db, delete then counts the values of --table that name the key and
refuses, with exit code 1, while any does. Without --db it requires --force,
which skips the count.

`
	}
	cmd := &cobra.Command{
		Use:   verb + " ID (--db DB [--table T] | --force)",
		Short: short,
		Long:  long + exitCodesHelp,
		Args:  cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) (err error) {
			id, err := parseKeyID(args[0])
			if err != nil {
				return err
			}
			if f.db == "" && !force {
				return usageErrorf("keys %s: give --db (and --table) to check that no stored value uses key %d, or --force to skip the check", verb, id)
			}
			k, master, err := c.loadKeyring()
			if err != nil {
				return err
			}
			ctx := c.sig
			// The file is edited only if it still holds this keyring
			// once the count is done (keyring.ErrChangedMeanwhile
			// otherwise).
			loaded := k.Clone()
			plain := func(k *keyring.Keyring) error {
				if verb == "disable" {
					return k.Disable(id)
				}
				return k.Delete(id)
			}
			// retire edits k: through the store, which first counts the
			// values naming the key, unless --force.
			retire := plain
			// The key's status is checked first, on a copy: a key that
			// cannot be disabled or deleted in its status is refused
			// with exit code 2 whatever uses it, before the count,
			// whose refusal is exit code 1.
			if err := retire(k.Clone()); err != nil {
				if errors.Is(err, keyring.ErrKeyNotFound) || errors.Is(err, keyring.ErrKeyState) {
					return configErr(err)
				}
				return err
			}
			if f.db != "" {
				var d *database
				if d, err = c.openDB(ctx, f, false); err != nil {
					return err
				}
				defer closeDB(d, &err) // err: the command's result
				if err := probeTable(ctx, d); err != nil {
					return err
				}
				a, err := c.newAdmin(d, k)
				if err != nil {
					return err
				}
				edit := retire
				retire = func(k *keyring.Keyring) error {
					if !force {
						// The library answers; the keyring is ours to edit.
						if err := a.CheckRetire(ctx, id, store.WalkOptions{BatchSize: batch}); err != nil {
							return err
						}
					}
					return edit(k)
				}
			}
			if err := retire(k); err != nil {
				var inUse *store.KeyInUseError
				switch {
				case errors.As(err, &inUse):
					return failedErr(fmt.Errorf("refusing to %s key %d: %s in table %q still name it; run 'accountvault rewrap' then 'accountvault check' first\n%s\n%s",
						verb, id, plural(inUse.Count, "stored value"), f.table,
						c.command("rewrap").db(f).hint("next"), c.command("check").db(f).hint("then")))
				case c.interrupted():
					return errInterrupted
				case errors.Is(err, keyring.ErrKeyNotFound), errors.Is(err, keyring.ErrKeyState):
					return configErr(err)
				}
				return err
			}
			_, err = c.editKeyringFile(master, nil, func(k *keyring.Keyring) error {
				if err := unchangedSince(k, loaded); err != nil {
					return err
				}
				return plain(k)
			})
			if err != nil {
				return err
			}
			how := "no stored value in table " + strconv.Quote(f.table) + " uses it"
			if force {
				how = "forced: stored values were not counted"
				fmt.Fprintf(c.stderr, "accountvault: warning: --force: values still under key %d, if any, can no longer be opened\n", id)
			}
			past := map[string]string{"disable": "disabled", "delete": "deleted"}[verb]
			c.audit("accountvault: key "+past, "key_id", id, "forced", force)
			fmt.Fprintf(c.stdout, "key %d %s (%s)\n", id, past, how)
			if verb == "disable" {
				// delete needs --db (or --force, never suggested).
				later := c.command("keys", "delete", strconv.FormatUint(uint64(id), 10))
				if f.db != "" {
					later.db(f)
				} else {
					later.anyDB()
				}
				fmt.Fprintf(c.stdout, "next: %s; %s\n", c.distributeHint(), later.hint("later"))
			}
			return nil
		}),
	}
	f.add(cmd, false)
	cmd.Flags().BoolVar(&force, "force", false, "skip the check that no stored value uses the key")
	cmd.Flags().IntVar(&batch, "batch", store.DefaultBatchSize, "rows read per batch while counting")
	return cmd
}

func (c *cli) keysRemasterCmd() *cobra.Command {
	newEnv := envNewMasterKey
	var newURI string
	cmd := &cobra.Command{
		Use:   "remaster [--new-master-key-env NAME | --new-master-key-uri URI]",
		Short: "Re-encrypt the keyring under a new master key (env or KMS)",
		Long: `remaster loads the keyring under the current master key (--master-key-env,
--master-key-uri or $ACCOUNTVAULT_MASTER_KEY_URI) and saves it, atomically,
under the new one, once it has checked that the new one decrypts what it
is about to save (nothing is saved otherwise). The new master key is the
local key in the environment variable named by --new-master-key-env (default
ACCOUNTVAULT_NEW_MASTER_KEY), or the KMS key of --new-master-key-uri (the
kms module's binary only): this is how a keyring moves from an environment
variable to a KMS key and back. The keys and the keyring's generation are
unchanged, so no row changes; like every edit, remaster saves nothing if
another edit changed the keyring meanwhile (the database keyring: it is
redone on the newer keyring). Then replace the master key in the secret
manager or the configuration of every replica. Replicas that watch the
keyring fail to reload it (and keep their keyring) until they have the new
master key.

  export ACCOUNTVAULT_NEW_MASTER_KEY=$(accountvault keys master-key)
  accountvault keys remaster --keyring keyring.json

  accountvault keys remaster --keyring keyring.json \
      --new-master-key-uri aws-kms://arn:aws:kms:eu-west-2:111122223333:key/KEY-ID

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			newSrc := masterSource{env: newEnv, from: "--new-master-key-env"}
			switch uriSet := cmd.Flags().Changed("new-master-key-uri"); {
			case uriSet && cmd.Flags().Changed("new-master-key-env"):
				return usageErrorf("--new-master-key-uri and --new-master-key-env name two new master keys: give one")
			case uriSet && newURI == "":
				return usageErrorf("--new-master-key-uri: empty key URI")
			case uriSet:
				newSrc = masterSource{uri: newURI, from: "--new-master-key-uri"}
			case newEnv == "":
				return usageErrorf("--new-master-key-env: empty variable name")
			}
			if c.master.uri == "" && newSrc.uri == "" && newSrc.env == c.master.env {
				return usageErrorf("--new-master-key-env and --master-key-env both name %s", newSrc.env)
			}
			_, master, err := c.loadKeyring()
			if err != nil {
				return err
			}
			newMaster, err := c.openMaster(newSrc)
			if err != nil {
				return err
			}
			if sameMaster(newSrc, c.master) {
				if newSrc.uri != "" {
					return configErr(fmt.Errorf("%s names the master key in use already", newSrc.from))
				}
				return configErr(fmt.Errorf("%s holds the same master key as %s", newSrc.env, c.master.env))
			}
			// The keyring package decrypts what it writes under the new
			// master key before it replaces the keyring (a KMS key may
			// encrypt and refuse to decrypt): nothing is saved that the
			// new key does not open.
			k, err := c.editKeyringFile(master, newMaster, nil)
			if err != nil {
				return err
			}
			c.audit("accountvault: keyring re-encrypted under a new master key", "key_ids", keyIDs(k), "master_key", newSrc.where())
			fmt.Fprintf(c.stdout, "%s is now encrypted under the master key %s\nnext: %s\n", c.keyringName(), newSrc.where(), remasterNext(c.master, newSrc))
			return nil
		}),
	}
	cmd.Flags().StringVar(&newEnv, "new-master-key-env", envNewMasterKey, "`name` of the environment variable holding the new master key")
	cmd.Flags().StringVar(&newURI, "new-master-key-uri", "", "the new master key is this KMS key `URI` (aws-kms://, gcp-kms://, hcvault://; the kms module's binary only)")
	var f dbFlags
	f.addKeyring(cmd)
	return cmd
}

// remasterNext says what to do once the keyring moved from the master key
// of old to that of new.
func remasterNext(old, new masterSource) string {
	const everywhere = " in the secret manager and on every replica"
	switch {
	case new.uri != "" && old.uri == "":
		return fmt.Sprintf("make %s the master key (--master-key-uri, or %s=%s)%s; then unset %s",
			new.uri, envMasterKeyURI, shellQuote(new.uri), everywhere, old.env)
	case new.uri != "":
		return fmt.Sprintf("make %s the master key (--master-key-uri, or %s=%s)%s",
			new.uri, envMasterKeyURI, shellQuote(new.uri), everywhere)
	case old.uri != "":
		return fmt.Sprintf("make the key in %s the master key (%s)%s, and unset %s (or drop --master-key-uri)",
			new.env, defaultMasterKeyEnv, everywhere, envMasterKeyURI)
	}
	return fmt.Sprintf("make it the master key (%s)%s", old.env, everywhere)
}

// editKeyring edits the keyring file under its lock (editKeyringFile):
// edit runs on the keyring the file holds once locked; then the message
// edit returns is printed. The audit events edit logs are held back until
// the edit is saved, and dropped if it is not.
func (c *cli) editKeyring(edit func(k *keyring.Keyring) (string, error)) error {
	master, err := c.masterKey()
	if err != nil {
		return err
	}
	var msg string
	c.heldAudit = new([]func())
	defer func() { c.heldAudit = nil }()
	_, err = c.editKeyringFile(master, nil, func(k *keyring.Keyring) (err error) {
		*c.heldAudit = nil
		msg, err = edit(k)
		return err
	})
	if err != nil {
		return err
	}
	for _, event := range *c.heldAudit {
		event()
	}
	fmt.Fprintln(c.stdout, msg)
	return nil
}

func parseKeyID(s string) (uint32, error) {
	id, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, usageErrorf("key id %q: want a decimal number as 'accountvault keys list' prints it", s)
	}
	return uint32(id), nil
}

func keyIDs(k *keyring.Keyring) []uint32 {
	var ids []uint32
	for _, ki := range k.Keys() {
		ids = append(ids, ki.ID)
	}
	return ids
}

// keysOverrideGenerationCmd returns 'keys override-generation'.
func (c *cli) keysOverrideGenerationCmd() *cobra.Command {
	var f dbFlags
	cmd := &cobra.Command{
		Use:   "override-generation --db DB [--table T]",
		Short: "Let a table accept an older keyring (recovery from a lost keyring only)",
		Long: `Stores record in the database the highest keyring generation they have used,
and refuse an older keyring from then on (a rollback: an old copy of the file,
perhaps with a retired key primary again). override-generation lowers that
record to the generation of --keyring, so that stores accept it.

Use it only when every copy of the newer keyring is truly lost (or was
wrong), never to silence a refusal you do not understand: it re-admits every
older copy of the keyring down to this generation. It logs an audit event,
then checks that the keyring opens the table's data (exit 2 if not).

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) (err error) {
			k, _, err := c.loadKeyring()
			if err != nil {
				return err
			}
			ctx := c.sig
			d, err := c.openDB(ctx, f, false)
			if err != nil {
				return err
			}
			defer closeDB(d, &err)
			a, err := c.newAdmin(d, k)
			if err != nil {
				return err
			}
			prev, err := a.OverrideKeyringGeneration(ctx)
			if errors.Is(err, store.ErrWrongKeyring) {
				// Checked before anything was changed.
				return c.keyringError(ctx, d, err, func(string) {})
			}
			if err != nil {
				return failedErr(err)
			}
			c.audit("accountvault: keyring generation overridden", "table", d.table, "generation", k.Generation(), "previous_generation", prev)
			fmt.Fprintf(c.stdout, "table %q: recorded keyring generation %d replaced by %d, the generation of %s\n", d.table, prev, k.Generation(), c.keyringShort())
			if err := a.CheckKeyring(ctx); err != nil {
				return c.keyringError(ctx, d, err, func(string) {})
			}
			fmt.Fprintln(c.stdout, "the keyring opens the table's data")
			// Values sealed under keys the restored keyring lacks (written
			// after the copy was made) are lost: say so, with exit 1.
			if _, _, err := a.CheckKeys(ctx, store.WalkOptions{}); err != nil {
				var mk *store.MissingKeysError
				if errors.As(err, &mk) {
					return failedErr(fmt.Errorf("%w\nthese values cannot be opened with this keyring: they are lost unless a newer keyring turns up (SECURITY.md, Recovery from a lost keyring)\n%s",
						missingKeys(mk), c.command("check").db(f).hint("next")))
				}
				return c.keyringError(ctx, d, err, func(string) {})
			}
			fmt.Fprintln(c.stdout, c.command("check").db(f).hint("next"))
			return nil
		}),
	}
	f.add(cmd, true)
	return cmd
}
