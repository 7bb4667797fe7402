package cli

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// Names of the files the demo creates in its directory.
const (
	demoDB      = "demo.db"
	demoKeyring = "keyring.json"
)

func (c *cli) demoCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR]",
		Short: "Tour accountvault on an embedded SQLite database (no set-up)",
		Long: `demo shows what accountvault does, on a SQLite file it creates in a fresh
temporary directory (removed afterwards), or in --dir (kept). It needs no
database server, keyring or master key: it generates a master key in memory
for the demo only.

It links a few accounts, shows one row as stored on disk next to what the
store returns, rotates the key-encryption key, rewraps, checks, verifies a
password, and shows a tampered row failing to open. The tokens it prints are
made-up demo values.

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.demo(c.sig, dir)
		}),
	}
	cmd.Flags().StringVar(&dir, "dir", "", "create the demo files in this `directory` and keep them")
	return cmd
}

// demoPrinter prints the demo's headed sections.
type demoPrinter struct {
	w io.Writer
	n int
}

func (p *demoPrinter) section(title, explain string) {
	p.n++
	fmt.Fprintf(p.w, "\n%d. %s\n   %s\n", p.n, title, explain)
}

func (p *demoPrinter) line(format string, args ...any) {
	fmt.Fprintf(p.w, "   "+format+"\n", args...)
}

// Demo accounts. Their tokens are made up.
var demoAccounts = []accountvault.Account{
	{
		ID: "acc_1", UserID: "user_alice", ProviderID: "github", AccountID: "583231",
		AccessToken: accountvault.NewSecret("gho_DEMO0000alice0000github0000token"),
		Scope:       "read:user",
	},
	{
		ID: "acc_2", UserID: "user_alice", ProviderID: "google", AccountID: "110248495921238986420",
		AccessToken:  accountvault.NewSecret("ya29.DEMO-alice-google-access-token"),
		RefreshToken: accountvault.NewSecret("1//DEMO-alice-google-refresh-token"),
		IDToken:      accountvault.NewSecret("eyJhbGciOiJub25lIn0.eyJzdWIiOiJERU1PIn0.DEMO"),
		Scope:        "openid email profile",
	},
	{
		ID: "acc_3", UserID: "user_bob", ProviderID: "github", AccountID: "1024025",
		AccessToken: accountvault.NewSecret("gho_DEMO0000bob0000github0000token00"),
		Scope:       "read:user repo",
	},
}

const (
	demoPassword      = "correct horse battery staple"
	demoWrongPassword = "correct horse battery stapler"
)

func (c *cli) demo(ctx context.Context, dir string) (err error) {
	start := time.Now()
	keep := dir != ""
	if keep {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return configErr(err)
		}
		for _, name := range []string{demoDB, demoKeyring} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return configErr(fmt.Errorf("%s holds a %s from an earlier demo already: choose another --dir", dir, name))
			} else if !errors.Is(err, fs.ErrNotExist) {
				return configErr(err)
			}
		}
	} else {
		if dir, err = os.MkdirTemp("", "accountvault-demo-"); err != nil {
			return err
		}
		defer func() {
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = rerr
			}
		}()
	}
	dbPath, krPath := filepath.Join(dir, demoDB), filepath.Join(dir, demoKeyring)
	p := &demoPrinter{w: c.stdout}
	fmt.Fprintf(p.w, "accountvault demo: OAuth tokens encrypted at rest, on the embedded SQLite file %s\n", dbPath)

	// 1. Keys.
	p.section("Keys", "A master key encrypts the keyring file; the keyring holds the key-encryption keys (KEKs).")
	mk, err := keyring.NewMasterKey()
	if err != nil {
		return err
	}
	master, err := keyring.ParseMasterKey(mk)
	if err != nil {
		return err
	}
	k, err := keyring.Generate()
	if err != nil {
		return err
	}
	if err := k.SaveFile(krPath, master); err != nil {
		return err
	}
	oldKey := k.Primary()
	p.line("master key  generated in memory for this demo only, never printed or saved")
	p.line("            (in production: a KMS, or ACCOUNTVAULT_MASTER_KEY from 'accountvault keys master-key')")
	p.line("keyring     %s (mode 0600, encrypted): key %d, primary", krPath, oldKey)

	// 2. Accounts.
	p.section("Link accounts", "store.Upsert seals each row's tokens under a fresh data key, wrapped by the primary KEK.")
	b, err := sqlite.Open(dbPath)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := b.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := b.Migrate(ctx); err != nil {
		return err
	}
	keys, err := k.KEK()
	if err != nil {
		return err
	}
	s, err := store.New(b, keys, store.WithLogger(c.log))
	if err != nil {
		return err
	}
	admin := store.NewAdmin(s)
	for _, a := range demoAccounts {
		if _, err := s.Upsert(ctx, a); err != nil {
			return err
		}
		var toks []string
		for _, t := range []struct {
			name string
			v    accountvault.Secret
		}{{"access", a.AccessToken}, {"refresh", a.RefreshToken}, {"id", a.IDToken}} {
			if !t.v.IsZero() {
				toks = append(toks, t.name)
			}
		}
		p.line("%-6s %-10s %-7s account %-21s tokens: %s", a.ID, a.UserID, a.ProviderID, a.AccountID, strings.Join(toks, ", "))
	}
	if err := s.SetPassword(ctx, "user_alice", demoPassword); err != nil {
		return err
	}
	p.line("%-6s %-10s %-7s password set with store.SetPassword (an argon2id hash is stored)", "cred_…", "user_alice", "credential")

	// 3. On disk vs. through the store.
	raw, err := openRaw(dbPath)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := raw.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	show := demoAccounts[1]
	p.section("On disk, and through the store", fmt.Sprintf("Row %s (%s) read with plain SQL from the file, then with store.FindByProvider.", show.ID, show.ProviderID))
	cols, err := readTokens(ctx, raw, show.ID)
	if err != nil {
		return err
	}
	p.line("on disk (sealed bytes, shown in their text form, truncated):")
	for i, v := range cols {
		p.line("  %-13s %s", envelope.Column(i), describeSealed(v))
	}
	p.line("  (the three begin alike: each carries the key id and the row's one wrapped data key)")
	got, err := s.FindByProvider(ctx, show.ProviderID, show.AccountID)
	if err != nil {
		return err
	}
	p.line("through the store (DEMO tokens: made up for this demo; real tokens are never printed):")
	p.line("  %-13s %s", "access_token", got.AccessToken.Reveal())
	p.line("  %-13s %s", "refresh_token", got.RefreshToken.Reveal())
	p.line("  %-13s %s", "id_token", got.IDToken.Reveal())
	p.line("  printed with %%v, an Account shows its tokens as %v", got.AccessToken)
	var hash string
	if err := raw.QueryRowContext(ctx, `SELECT password FROM accounts WHERE provider_id = 'credential' AND account_id = 'user_alice'`).Scan(&hash); err != nil {
		return err
	}
	p.line("the credential row's password column holds a hash, never a password: %s…", hashParams(hash))

	// 4. Rotation.
	p.section("Rotate the key", "'accountvault keys rotate' adds a new primary KEK; the old one stays, decrypt-only.")
	newKey, err := k.Rotate()
	if err != nil {
		return err
	}
	if err := k.SaveFile(krPath, master); err != nil {
		return err
	}
	if keys, err = k.KEK(); err != nil {
		return err
	}
	if err := s.Reload(keys); err != nil {
		return err
	}
	p.line("key %d is now primary, key %d decrypt-only: old rows still open, new writes use %d", newKey, oldKey, newKey)
	var inUse *store.KeyInUseError
	switch err := admin.CheckRetire(ctx, oldKey, store.WalkOptions{}); {
	case errors.As(err, &inUse):
		p.line("disabling key %d now is refused: %s still name it", oldKey, plural(inUse.Count, "stored value"))
	case err != nil:
		return err
	default:
		return errors.New("demo: disabling the old key was not refused")
	}

	// 5. Rewrap.
	p.section("Rewrap", "'accountvault rewrap' rewraps each row's data key with the new KEK; token ciphertexts are untouched.")
	rw, err := admin.Rewrap(ctx, store.WalkOptions{})
	if err != nil {
		return err
	}
	p.line("%d rows seen, %d rewrapped, %d without tokens, %d failed", rw.Seen, rw.Rewritten, rw.Skipped, rw.Failed)
	after, err := readTokens(ctx, raw, show.ID)
	if err != nil {
		return err
	}
	p.line("row %s on disk now: %s", show.ID, describeSealed(after[envelope.AccessToken]))
	bt, at := sealedTail(cols[envelope.AccessToken]), sealedTail(after[envelope.AccessToken])
	p.line("its access_token's nonce, ciphertext and tag (last %d bytes) are unchanged: %v", len(at), len(at) > 0 && bytes.Equal(bt, at))

	// 6. Check.
	p.section("Check", "'accountvault check' opens every value and counts values per key: the evidence that a key can go.")
	rep, err := admin.Check(ctx, store.WalkOptions{})
	if err != nil {
		return err
	}
	sealed, legacy, failed := rep.Totals()
	p.line("%d rows: %d sealed values open, %d legacy, %d failed", rep.Rows, sealed, legacy, failed)
	usage := rep.KeyUsage()
	for _, ki := range k.Keys() {
		p.line("key %d (%s): %s", ki.ID, ki.Status, plural(usage[ki.ID], "value"))
	}
	if usage[oldKey] != 0 || failed != 0 {
		return fmt.Errorf("demo: after rewrap, key %d still names %d values and %d failed", oldKey, usage[oldKey], failed)
	}
	if err := admin.CheckRetire(ctx, oldKey, store.WalkOptions{}); err != nil {
		return err
	}
	if err := k.Disable(oldKey); err != nil {
		return err
	}
	if keys, err = k.KEK(); err != nil {
		return err
	}
	if err := s.Reload(keys); err != nil {
		return err
	}
	p.line("so 'accountvault keys disable %d --db ...' now succeeds: key %d is disabled", oldKey, oldKey)

	// 7. Passwords.
	p.section("Passwords", "store.VerifyPassword checks an argon2id hash in constant time; nothing is ever decrypted.")
	for _, pw := range []struct{ label, pw string }{{"right password", demoPassword}, {"wrong password", demoWrongPassword}} {
		ok, err := s.VerifyPassword(ctx, "user_alice", pw.pw)
		if err != nil {
			return err
		}
		p.line("%s: %v", pw.label, ok)
	}
	ok, err := s.VerifyPassword(ctx, "user_nobody", demoPassword)
	if err != nil {
		return err
	}
	p.line("unknown user:   %v (after the same work as a wrong password)", ok)

	// 8. Tampering.
	from, to := demoAccounts[0], demoAccounts[2]
	p.section("Tampering", "A sealed token is bound to its row: copied into another row with SQL, it fails to open.")
	if _, err := raw.ExecContext(ctx, `UPDATE accounts SET access_token = (SELECT access_token FROM accounts WHERE id = ?) WHERE id = ?`, from.ID, to.ID); err != nil {
		return err
	}
	p.line("UPDATE accounts SET access_token = <%s's> WHERE id = '%s'", from.ID, to.ID)
	_, err = s.FindByProvider(ctx, to.ProviderID, to.AccountID)
	if err == nil {
		return errors.New("demo: the tampered row opened")
	}
	p.line("store.FindByProvider: %v", err)
	p.line("errors.Is(err, accountvault.ErrDecrypt) = %v (the store also logs an audit event, on stderr here)", errors.Is(err, accountvault.ErrDecrypt))
	if !errors.Is(err, accountvault.ErrDecrypt) {
		return fmt.Errorf("demo: tampered row: unexpected error: %w", err)
	}

	fmt.Fprintln(p.w)
	if keep {
		fmt.Fprintf(p.w, "Done in %s. The files are in %s. Next: README.md (the library), SECURITY.md (runbooks).\n", time.Since(start).Round(10*time.Millisecond), dir)
	} else {
		fmt.Fprintf(p.w, "Done in %s (temporary files removed). Next: README.md (the library), SECURITY.md (runbooks).\n", time.Since(start).Round(10*time.Millisecond))
	}
	return nil
}

// openRaw opens the SQLite file with plain database/sql, as any other
// program reading the database would.
func openRaw(path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "_pragma=busy_timeout(5000)"}
	return sql.Open("sqlite", u.String())
}

// readTokens reads the raw token columns of row id.
func readTokens(ctx context.Context, db *sql.DB, id string) (envelope.Fields, error) {
	var f envelope.Fields
	err := db.QueryRowContext(ctx, `SELECT access_token, refresh_token, id_token FROM accounts WHERE id = ?`, id).
		Scan(&f[envelope.AccessToken], &f[envelope.RefreshToken], &f[envelope.IDToken])
	return f, err
}

// describeSealed shows a sealed value's text form, truncated, with its
// size and key id.
func describeSealed(v []byte) string {
	if len(v) == 0 {
		return "NULL"
	}
	id, err := envelope.KeyID(v)
	if err != nil {
		return fmt.Sprintf("%d bytes, not a sealed value (%v)", len(v), err)
	}
	text := envelope.EncodeText(v)
	const show = 32
	if len(text) > show {
		text = text[:show] + "…"
	}
	return fmt.Sprintf("%s  %3d bytes, key %d", text, len(v), id)
}

// sealedTail returns the nonce, ciphertext and tag of a sealed value (see
// FORMAT.md: they follow the 9-byte header and the wrapped key), or nil.
func sealedTail(v []byte) []byte {
	if len(v) < 9 || len(v) < 9+int(v[8]) {
		return nil
	}
	return v[9+int(v[8]):]
}

// hashParams returns the algorithm and parameters of a PHC string, without
// its salt and hash.
func hashParams(phc string) string {
	parts := strings.Split(phc, "$")
	if len(parts) < 4 {
		return "(unrecognised)"
	}
	return strings.Join(parts[:4], "$") + "$"
}
