package cli

import (
	"os"
	"strings"
)

// shellQuote returns s as one word of a POSIX shell command line: s itself
// if it holds only characters that no shell treats specially anywhere in a
// word, otherwise s in single quotes, where each single quote of s ends the
// quoted part, is escaped, and starts a new one:
//
//	it's a&b.db   ->   'it'\''s a&b.db'
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !isShellSafe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isShellSafe reports whether r means itself anywhere in a shell word.
func isShellSafe(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("@%+=:,./_-", r)
}

// commandLine is an accountvault command line that a hint ("next:",
// "then:", "later:") prints for the operator to paste into a shell. It
// repeats the global flags in use, so that it does what the hint says
// wherever it is pasted.
type commandLine struct {
	args   []string // after "accountvault"
	global []string
	// elided is set when the --db argument had a password, printed as
	// xxxxx: then the line is not pasteable as is.
	elided bool
	// dbGlobal is set with --keyring db: global holds --db and --table
	// already, and db and anyDB add nothing.
	dbGlobal bool
}

// command returns the command line "accountvault args...".
func (c *cli) command(args ...string) *commandLine {
	l := &commandLine{args: args, global: c.globalArgs()}
	if c.keyringDB && c.kdb.db != "" {
		l.dbGlobal = true
		shown := redactDB(c.kdb.db)
		l.elided = shown != c.kdb.db
		l.global = append(l.global, "--db", shown, "--table", c.kdb.table)
	}
	return l
}

// globalArgs returns the global flags that a command pasted elsewhere needs
// to act as this one did: --keyring, unless it is the default
// (accountvault-keyring.json with $ACCOUNTVAULT_KEYRING unset, so that the
// hint works in any shell); --master-key-env, unless it is the default,
// or --master-key-uri if given (not $ACCOUNTVAULT_MASTER_KEY_URI);
// --allow-insecure-permissions, if given.
func (c *cli) globalArgs() []string {
	var args []string
	if env := os.Getenv(envKeyring); c.keyringPath != defaultKeyring || (env != "" && env != defaultKeyring) {
		args = append(args, "--keyring", c.keyringPath)
	}
	switch {
	case c.master.from == "--master-key-uri":
		args = append(args, "--master-key-uri", c.master.uri)
	case c.master.uri == "" && c.master.env != defaultMasterKeyEnv:
		args = append(args, "--master-key-env", c.master.env)
	}
	if c.allowInsecure {
		args = append(args, "--allow-insecure-permissions")
	}
	return args
}

// db appends --db and --table as f gives them, the password of a database
// URL redacted.
func (l *commandLine) db(f dbFlags) *commandLine {
	if l.dbGlobal {
		return l
	}
	shown := redactDB(f.db)
	l.elided = l.elided || shown != f.db
	l.args = append(l.args, "--db", shown, "--table", f.table)
	return l
}

// anyDB appends --db and --table with placeholders, for a hint printed by
// a command that was given no database.
func (l *commandLine) anyDB() *commandLine {
	if l.dbGlobal {
		return l
	}
	l.args = append(l.args, "--db", "DB", "--table", "TABLE")
	return l
}

// String returns the command line, each argument shell-quoted.
func (l *commandLine) String() string {
	words := []string{"accountvault"}
	for _, a := range append(append([]string(nil), l.args...), l.global...) {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

// note returns " (password elided)" if a password was redacted from the
// line, "" otherwise.
func (l *commandLine) note() string {
	if l.elided {
		return " (password elided)"
	}
	return ""
}

// hint returns "label: COMMAND", with the password note before the colon.
// The command line always ends the hint, so that it can be copied up to the
// end of the line.
func (l *commandLine) hint(label string) string {
	return label + l.note() + ": " + l.String()
}
