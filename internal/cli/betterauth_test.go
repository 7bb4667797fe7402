package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/betterauthtest"
	"github.com/accountvault/accountvault/internal/scripttest"
)

// Test commands for adopting the databases better-auth 1.7.25 wrote
// (testdata/betterauth; testdata/script/db/betterauth.txt).

// baFixture returns the fixture of the script's backend ($BACKEND) and
// variant (plain, single or versioned).
func baFixture(ts *testscript.TestScript, variant string) *betterauthtest.Fixture {
	m, err := betterauthtest.ReadManifest()
	ts.Check(err)
	name := ts.Getenv("BACKEND") + "-" + variant
	for i := range m.Fixtures {
		if m.Fixtures[i].Name == name {
			return &m.Fixtures[i]
		}
	}
	ts.Fatalf("no better-auth fixture %q", name)
	return nil
}

// bafixture DB TABLE VARIANT: put the account table of the better-auth
// fixture VARIANT of the script's backend in DB under the name TABLE, as
// better-auth wrote it (camelCase columns). SQLite: DB must not exist; it
// becomes a copy of the fixture file. Postgres: the dump is loaded into a
// scratch schema, dropped at the end of the script, and its account table
// moved to DB's current schema.
func cmdBAFixture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: bafixture DB TABLE plain|single|versioned")
	}
	f := baFixture(ts, args[2])
	table := args[1]
	ctx, cancel := scripttest.Context()
	defer cancel()
	if f.Database == "sqlite" {
		dst := ts.MkAbs(args[0])
		src, err := os.Open(filepath.Join(betterauthtest.Dir(), f.File))
		ts.Check(err)
		defer src.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		ts.Check(err)
		_, err = io.Copy(out, src)
		ts.Check(err)
		ts.Check(out.Close())
		if table != "account" {
			db, err := openRawDB(dst)
			ts.Check(err)
			defer db.Close()
			_, err = db.ExecContext(ctx, `ALTER TABLE account RENAME TO `+quote(table))
			ts.Check(err)
		}
		return
	}
	dump, err := os.ReadFile(filepath.Join(betterauthtest.Dir(), f.File))
	ts.Check(err)
	var r [8]byte
	_, err = rand.Read(r[:])
	ts.Check(err)
	schema := "bacli_" + hex.EncodeToString(r[:])
	conn, err := pgx.Connect(ctx, args[0])
	ts.Check(err)
	defer conn.Close(context.Background())
	var target string
	ts.Check(conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&target))
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	ts.Check(err)
	url := args[0]
	ts.Defer(func() {
		ctx, cancel := scripttest.Context()
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err == nil {
			_, err = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
		if err != nil {
			ts.Logf("dropping schema %s: %v", schema, err)
		}
	})
	_, err = conn.Exec(ctx, "SET search_path TO "+schema)
	ts.Check(err)
	_, err = conn.Exec(ctx, string(dump)) // the simple protocol: the whole script
	ts.Check(err)
	_, err = conn.Exec(ctx, `ALTER TABLE account RENAME TO `+quote(table))
	ts.Check(err)
	// Index names are unique per schema: give the table's (account_pkey,
	// account_userId_idx) names of their own before the move.
	rows, err := conn.Query(ctx, `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2`, schema, table)
	ts.Check(err)
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	ts.Check(err)
	for i, ix := range indexes {
		_, err = conn.Exec(ctx, `ALTER INDEX `+quote(ix)+` RENAME TO `+quote(fmt.Sprintf("%s_ix%d", table, i)))
		ts.Check(err)
	}
	_, err = conn.Exec(ctx, `ALTER TABLE `+quote(table)+` SET SCHEMA `+quote(target))
	ts.Check(err)
}

// basecrets VARIANT SECRETS_VAR SECRET_VAR: set the environment variables
// to the fixture's BETTER_AUTH_SECRETS and BETTER_AUTH_SECRET.
func cmdBASecrets(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: basecrets VARIANT SECRETS_VAR SECRET_VAR")
	}
	f := baFixture(ts, args[0])
	ts.Setenv(args[1], f.Env.Secrets)
	ts.Setenv(args[2], f.Env.Secret)
}

// batokens DB TABLE VARIANT: every account of the fixture reads back
// through a store over the script's keyring with the tokens better-auth
// was given (the manifest's plaintexts), whatever form it stored them in.
func cmdBATokens(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: batokens DB TABLE VARIANT")
	}
	f := baFixture(ts, args[2])
	ctx, cancel := scripttest.Context()
	defer cancel()
	s, d, err := openStore(ctx, dbArg(ts, args[0]), args[1], scriptKeyring(ts))
	ts.Check(err)
	defer d.backend.Close()
	secret := func(tok *betterauthtest.Token) accountvault.Secret {
		if tok == nil {
			return accountvault.Secret{}
		}
		return accountvault.NewSecret(tok.Plaintext)
	}
	for _, a := range f.Accounts {
		got, err := s.FindByProvider(ctx, a.ProviderID, a.AccountID)
		ts.Check(err)
		if !got.AccessToken.Equal(secret(a.AccessToken)) || !got.RefreshToken.Equal(secret(a.RefreshToken)) || !got.IDToken.Equal(secret(a.IDToken)) {
			ts.Fatalf("%s: tokens differ from those the provider sent (lengths %d/%d/%d)", a.Label(),
				got.AccessToken.Len(), got.RefreshToken.Len(), got.IDToken.Len())
		}
	}
}
