// Command accountvault is the operator's tool for accountvault: it creates
// and edits the encrypted keyring file, rewraps a table onto a new key,
// checks that every sealed value opens, seals the plaintext tokens of an
// adopted table, and runs a self-contained demo.
//
// Usage:
//
//	accountvault demo [--dir DIR]
//	accountvault keys master-key
//	accountvault keys init|list|stage|rotate
//	accountvault keys promote|enable ID
//	accountvault keys disable|delete ID (--db DB [--table T] | --force)
//	accountvault keys remaster [--new-master-key-env NAME | --new-master-key-uri URI]
//	accountvault rewrap  --db DB [--table T] [--batch N] [--after ID] [--until ID]
//	accountvault check   --db DB [--table T] [--batch N] [--json]
//	accountvault migrate --db DB [--table T] [--batch N] [--after ID] [--until ID]
//
// Global flags: --keyring FILE (default accountvault-keyring.json, or
// $ACCOUNTVAULT_KEYRING), --master-key-env NAME (default
// ACCOUNTVAULT_MASTER_KEY: the environment variable holding the base64
// master key), --master-key-uri URI (or $ACCOUNTVAULT_MASTER_KEY_URI: a
// master key held by a KMS; see below), --allow-insecure-permissions (load
// a keyring file readable by group or others), --log-level
// debug|info|warn|error (audit events, as
// slog text lines on stderr; default warn), --progress-interval DURATION
// (when stderr is not a terminal, print a progress line at most this often;
// default 2s, 0 for every batch: on a terminal, a progress bar with rate and
// ETA is drawn instead).
//
// --db is a SQLite file path, or a postgres:// or postgresql:// URL. --table
// is the accounts table (default "accounts"; better-auth's is "account").
// migrate adopts an existing table and never creates one. Every command
// runs --help.
//
// # Master keys in a KMS
//
// This binary reads the master key from an environment variable only: it
// refuses --master-key-uri, $ACCOUNTVAULT_MASTER_KEY_URI and
// --new-master-key-uri with exit code 2. The same command with master keys
// held by AWS KMS, Google Cloud KMS or Vault Transit (aws-kms://,
// gcp-kms://, hcvault:// key URIs) is built from the kms module, which
// holds the cloud SDKs:
//
//	cd kms && go build -o accountvault ./cmd/accountvault
//
// There, the master key comes from, in this order: --master-key-uri;
// --master-key-env NAME, if given; $ACCOUNTVAULT_MASTER_KEY_URI, if set;
// $ACCOUNTVAULT_MASTER_KEY. --master-key-uri and --master-key-env together
// are a usage error. 'keys remaster --new-master-key-uri URI' moves a
// keyring (file or database) to a KMS key, '--new-master-key-env NAME'
// back to a local key. A KMS that refuses (access revoked, key disabled,
// unreachable, another key) is a configuration error (exit 2) naming the
// key and the KMS's answer; nothing is changed.
//
// # Exit codes
//
//	0    done
//	1    rows failed: check found values that do not open, rewrap or
//	     migrate could not process some rows, a key retirement was
//	     refused because stored values still name the key, or a database
//	     error stopped the command midway
//	2    usage or configuration error: bad flags or arguments, no or wrong
//	     master key, a KMS that refuses the master key (access revoked,
//	     key disabled, unreachable), missing or unreadable keyring file, a keyring that
//	     cannot open the table's data or lacks a key in use, a database or
//	     table that cannot be opened, a table that migrate cannot adopt
//	     (missing, camelCase columns, duplicate provider and account
//	     ids), a key whose status forbids the edit
//	     (disabling the primary key, deleting a key that is not disabled:
//	     refused before any value is counted); nothing was changed
//	130  interrupted (SIGINT or SIGTERM); see below
//
// These are the exit codes of the built binary:
//
//	go build -o accountvault ./cmd/accountvault
//
// 'go run ./cmd/accountvault' reports every non-zero exit code as 1.
//
// # Hints
//
// After a step of a runbook, commands print the next one as a line
// starting "next:" (or "then:", "later:") that ends with a whole command
// line: it repeats --db and --table, --keyring unless it is the default
// (accountvault-keyring.json with $ACCOUNTVAULT_KEYRING unset),
// --master-key-env unless it is the default, --master-key-uri if given, and
// --allow-insecure-permissions if given, each argument quoted for a POSIX
// shell. A database URL's password is printed as xxxxx, and the hint then
// says "(password elided)": put the password back before running it.
// Where a command was given no database, the hint says --db DB --table
// TABLE.
//
// # Interrupting
//
// rewrap and migrate stop cleanly between batches at the first SIGINT or
// SIGTERM: they finish the batch in hand, print the last row id done, and
// exit 130. rewrap interrupted before its walk (while checking the
// keyring and counting the values per key) says "interrupted before any
// row was changed" and exits 130. Running the same command again finishes the job (it skips
// what is done); --after ID skips the rows before ID outright. A second
// signal kills the process at once, which is safe too: every row is
// written by one atomic compare-and-swap. check stops at once.
//
// # Secrets
//
// No output or error of accountvault contains a master key, key material,
// token or password hash, except `keys master-key`, whose whole purpose is
// to print a new master key, and `demo`, which prints the demo's own
// made-up tokens, marked as such. Database URLs are printed with their
// password redacted.
package main
