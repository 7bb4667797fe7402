package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/accountvault/accountvault/keyring"
	"github.com/spf13/cobra"
)

// Exit codes; see the package documentation.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

const exitCodesHelp = `Exit codes:
  0    done
  1    rows failed (values that do not open, rows not processed, a key
       retirement refused because values still use the key, or a database
       error midway)
  2    usage or configuration error (flags, master key, keyring, database,
       a missing table or one migrate cannot adopt, a key whose status
       forbids the edit); nothing was changed
  130  interrupted (SIGINT or SIGTERM)
These are the exit codes of the built binary,
  go build -o accountvault ./cmd/accountvault
('go run' reports every non-zero exit code as 1).`

// Environment variables and defaults of the global flags.
const (
	envKeyring          = "ACCOUNTVAULT_KEYRING"
	defaultKeyring      = "accountvault-keyring.json"
	keyringInDB         = "db" // --keyring db: the database keyring
	defaultMasterKeyEnv = keyring.EnvMasterKey
	envNewMasterKey     = "ACCOUNTVAULT_NEW_MASTER_KEY"
	defaultTable        = "accounts"
	defaultProgressIv   = 2 * time.Second
)

// exitError carries the exit code of a failed command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage or configuration error (exit 2).
func usageErr(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{exitUsage, err}
}

func usageErrorf(format string, args ...any) error {
	return usageErr(fmt.Errorf(format, args...))
}

// failedErr marks err as a failure of the operation itself (exit 1).
func failedErr(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{exitFailed, err}
}

// errInterrupted is returned by a command stopped by a signal (exit 130).
// The command has printed where it stopped.
var errInterrupted = &exitError{exitInterrupted, errors.New("interrupted")}

// cli holds the global flags and the output streams of one run.
type cli struct {
	stdout, stderr io.Writer

	keyringPath  string
	masterKeyEnv string // --master-key-env
	masterKeyURI string // --master-key-uri
	// master is the master key the flags and the environment name (see
	// resolveMasterSource), set by setup.
	master masterSource
	// opts are Main's options; closers the KMS master keys to close.
	opts    options
	closers []io.Closer
	// keyringDB is set when --keyring is "db": the keyring is kept in the
	// database of the command's --db, beside its --table (kdb).
	keyringDB        bool
	kdb              dbFlags
	allowInsecure    bool
	logLevel         string
	progressInterval time.Duration

	log *slog.Logger
	// sig is done at the first SIGINT or SIGTERM.
	sig context.Context
	// heldAudit, if not nil, holds the audit events of a keyring edit
	// in progress, logged once it is saved (see editKeyring).
	heldAudit *[]func()
}

// Main runs the command line args (without the program name) with the
// given output streams and returns the process exit code. It installs
// handlers for SIGINT and SIGTERM while it runs.
//
// Without options, master keys come from environment variables only; the
// binary of the kms module passes [WithMasterKeyURI] to take KMS key URIs
// too.
func Main(args []string, stdout, stderr io.Writer, opts ...Option) int {
	return run(args, stdout, stderr, opts...)
}

// run runs the command line args and returns the exit code.
func run(args []string, stdout, stderr io.Writer, opts ...Option) int {
	sig, stop := notifyInterrupt(stderr)
	defer stop()
	c := &cli{stdout: stdout, stderr: stderr, sig: sig}
	for _, o := range opts {
		o(&c.opts)
	}
	root := c.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(sig)
	c.closeMasters()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Errors that cobra itself returns: unknown command or flag,
		// wrong number of arguments.
		ee = &exitError{exitUsage, err}
	}
	if ee.code != exitInterrupted {
		fmt.Fprintf(stderr, "accountvault: %v\n", ee.err)
	}
	if ee.code == exitUsage && !errors.Is(ee.err, errConfig) {
		fmt.Fprintln(stderr, "Run 'accountvault --help' for usage.")
	}
	return ee.code
}

// errConfig is wrapped by configuration errors (as opposed to errors in
// the command line), so that they are not followed by a usage hint.
var errConfig = errors.New("configuration error")

// configErr marks err as a configuration error (exit 2, no usage hint).
func configErr(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{exitUsage, &configError{err}}
}

type configError struct{ err error }

func (e *configError) Error() string        { return e.err.Error() }
func (e *configError) Unwrap() error        { return e.err }
func (e *configError) Is(target error) bool { return target == errConfig }

// runE adapts a command's function: an error it returns without an exit
// code is a failure of the operation (exit 1).
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		if err == nil {
			return nil
		}
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return failedErr(err)
	}
}

func (c *cli) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "accountvault",
		Short: "Operate accountvault: keys, rewrap, check, migrate, demo",
		Long: `accountvault is the operator's tool for accountvault, which keeps the OAuth
tokens of an auth server's users encrypted at rest.

Start with 'accountvault demo'. The key-rotation runbooks are in SECURITY.md.

The master key is read from the environment variable named by
--master-key-env (default ACCOUNTVAULT_MASTER_KEY), or is a key held by a
KMS, named by --master-key-uri (or $ACCOUNTVAULT_MASTER_KEY_URI):
aws-kms://ARN, gcp-kms://projects/.../cryptoKeys/K or
hcvault://HOST/MOUNT/keys/NAME. The command line wins over the environment:
--master-key-uri, else an explicit --master-key-env, else
$ACCOUNTVAULT_MASTER_KEY_URI if set, else $ACCOUNTVAULT_MASTER_KEY;
--master-key-uri with --master-key-env is refused. KMS master keys need the
accountvault of the kms module (cd kms && go build -o accountvault
./cmd/accountvault); the KMS is called once per keyring load or save, never
per row.

The keyring is read from --keyring (default accountvault-keyring.json, or
$ACCOUNTVAULT_KEYRING). --db is a SQLite file path or a postgres:// URL;
--table the accounts table (default "accounts").

--keyring db (or ACCOUNTVAULT_KEYRING=db) uses the database keyring instead of
a file: the keyring, encrypted under the master key, kept in the database
given by --db beside the table given by --table (in accountvault_meta). Every
command that uses a keyring then needs --db. Edits are compare-and-swap in
the database, and replicas that watch it (store.Admin.WatchKeyring) load
them without a restart. A file named "db" is ./db.

` + exitCodesHelp,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return c.setup(cmd)
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErr(err)
	})
	pf := root.PersistentFlags()
	pf.StringVar(&c.keyringPath, "keyring", defaultKeyring, "keyring `file`, or \"db\" for the keyring kept in the database (--db) beside --table (env "+envKeyring+")")
	pf.StringVar(&c.masterKeyEnv, "master-key-env", defaultMasterKeyEnv, "`name` of the environment variable holding the master key")
	pf.StringVar(&c.masterKeyURI, "master-key-uri", "", "master key held by a KMS: aws-kms://, gcp-kms:// or hcvault:// key `URI` (env "+envMasterKeyURI+"; the kms module's binary only)")
	pf.BoolVar(&c.allowInsecure, "allow-insecure-permissions", false, "load a keyring file that group or others can access")
	pf.StringVar(&c.logLevel, "log-level", "warn", "audit events on stderr at this `level` and above: debug, info, warn, error")
	pf.DurationVar(&c.progressInterval, "progress-interval", defaultProgressIv, "when stderr is not a terminal, print a progress line at most this often (0: every batch)")

	root.AddCommand(c.demoCmd(), c.keysCmd(), c.rewrapCmd(), c.checkCmd(), c.migrateCmd())
	return root
}

// setup applies the global flags before any command runs.
func (c *cli) setup(cmd *cobra.Command) error {
	if !cmd.Flags().Changed("keyring") {
		if v := os.Getenv(envKeyring); v != "" {
			c.keyringPath = v
		}
	}
	if c.keyringPath == "" {
		return usageErrorf("--keyring: empty file name")
	}
	if c.keyringPath == keyringInDB {
		c.keyringDB = true
		// Commands that use a keyring all have --db and --table.
		if fl := cmd.Flags().Lookup("db"); fl != nil {
			c.kdb.db = fl.Value.String()
		}
		if fl := cmd.Flags().Lookup("table"); fl != nil {
			c.kdb.table = fl.Value.String()
		}
	}
	src, err := resolveMasterSource(masterFlags{
		uri: c.masterKeyURI, uriSet: cmd.Flags().Changed("master-key-uri"),
		env: c.masterKeyEnv, envSet: cmd.Flags().Changed("master-key-env"),
	})
	if err != nil {
		return err
	}
	c.master = src
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return usageErrorf("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	if c.progressInterval < 0 {
		return usageErrorf("--progress-interval must not be negative")
	}
	c.log = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	return nil
}

// groupCmd returns a command that only holds subcommands: without one it
// prints its help, and an unknown one is a usage error.
func groupCmd(use, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
}

// plural returns "1 value" or "n values".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(word, "y"))
	}
	return fmt.Sprintf("%d %ss", n, word)
}
