package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/accountvault/accountvault/internal/betterauthtest"
	"github.com/accountvault/accountvault/internal/pgtest"
	"github.com/accountvault/accountvault/internal/scripttest"
)

// baplain BACKEND: load the better-auth 1.7.25 plaintext fixture
// (testdata/betterauth: sqlite-plain.sqlite or postgres-plain.sql) and set
// $BADB to a --db that reaches its tables (account, "user", session,
// verification): a copy of the SQLite file, or a new Postgres schema
// (named by the URL's search_path), dropped after the script.
func cmdBAPlain(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: baplain sqlite|postgres")
	}
	dir := betterauthtest.Dir()
	switch args[0] {
	case "sqlite":
		src, err := os.Open(filepath.Join(dir, "sqlite-plain.sqlite"))
		ts.Check(err)
		defer src.Close()
		dst := ts.MkAbs("better-auth.sqlite")
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		ts.Check(err)
		_, err = io.Copy(out, src)
		ts.Check(err)
		ts.Check(out.Close())
		ts.Setenv("BADB", dst)
	case "postgres":
		dump, err := os.ReadFile(filepath.Join(dir, "postgres-plain.sql"))
		ts.Check(err)
		var r [8]byte
		_, err = rand.Read(r[:])
		ts.Check(err)
		schema := "avcli_ba_" + hex.EncodeToString(r[:])
		ctx, cancel := scripttest.Context()
		defer cancel()
		conn, err := pgx.Connect(ctx, pgtest.URL())
		ts.Check(err)
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema+"; SET search_path TO "+schema)
		ts.Check(err)
		ts.Defer(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := pgx.Connect(ctx, pgtest.URL())
			if err != nil {
				ts.Logf("dropping schema %s: %v", schema, err)
				return
			}
			defer c.Close(context.Background())
			if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
				ts.Logf("dropping schema %s: %v", schema, err)
			}
		})
		_, err = conn.Exec(ctx, string(dump))
		ts.Check(err)
		u, err := url.Parse(pgtest.URL())
		ts.Check(err)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		ts.Setenv("BADB", u.String())
	default:
		ts.Fatalf("baplain: unknown backend %q", args[0])
	}
}

// verifyfixture DB: require every account of the better-auth plaintext
// fixture to open through a store over the script's keyring (table
// account) with the manifest's plaintext tokens, password hash, scope and
// times. Failures name rows and columns, never values.
func cmdVerifyFixture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: verifyfixture sqlite|postgres DB")
	}
	b, err := os.ReadFile(filepath.Join(betterauthtest.Dir(), "manifest.json"))
	ts.Check(err)
	var m betterauthtest.Manifest
	ts.Check(json.Unmarshal(b, &m))
	var f *betterauthtest.Fixture
	for i := range m.Fixtures {
		if m.Fixtures[i].Name == args[0]+"-plain" {
			f = &m.Fixtures[i]
		}
	}
	if f == nil {
		ts.Fatalf("verifyfixture: no fixture %s-plain", args[0])
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	s, d, err := openStore(ctx, dbArg(ts, args[1]), "account", scriptKeyring(ts))
	ts.Check(err)
	defer d.backend.Close()
	for i := range f.Accounts {
		a := &f.Accounts[i]
		got, err := s.FindByProvider(ctx, a.ProviderID, a.AccountID)
		if err != nil {
			ts.Fatalf("%s: %v", a.Label(), err)
		}
		for col, pair := range map[string]struct {
			tok *betterauthtest.Token
			got []byte
		}{
			"accessToken": {a.AccessToken, got.AccessToken.Bytes()}, "refreshToken": {a.RefreshToken, got.RefreshToken.Bytes()},
			"idToken": {a.IDToken, got.IDToken.Bytes()},
		} {
			want := ""
			if pair.tok != nil {
				want = pair.tok.Plaintext
			}
			if string(pair.got) != want {
				ts.Fatalf("%s: %s opens to a different token (%d bytes, want %d)", a.Label(), col, len(pair.got), len(want))
			}
		}
		wantPW := ""
		if a.Password != nil {
			wantPW = a.Password.Stored
		}
		if got.Password.Reveal() != wantPW {
			ts.Fatalf("%s: password hash differs", a.Label())
		}
		created, err := a.CreatedAt.Time()
		ts.Check(err)
		if got.ID != a.ID || got.UserID != a.UserID || got.CreatedAt.Unix() != created.Unix() {
			ts.Fatalf("%s: id, user id or created_at differ", a.Label())
		}
	}
}

// rawexec DB SQL: run one SQL statement on DB behind the library's back
// (as another application writing the table would).
func cmdRawExec(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: [!] rawexec DB SQL")
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	db, err := openRawDB(dbArg(ts, args[0]))
	ts.Check(err)
	defer db.Close()
	_, err = db.ExecContext(ctx, args[1])
	switch {
	case neg && err == nil:
		ts.Fatalf("rawexec: the statement succeeded")
	case neg:
		ts.Logf("rawexec: %v", err)
	default:
		ts.Check(err)
	}
}
