package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/accountvault/accountvault/internal/pgtest"
	"github.com/accountvault/accountvault/internal/scripttest"
	"github.com/accountvault/accountvault/keyring"
)

// TestMain lets the test binary run as the accountvault command in test
// scripts (testscript re-executes it under that name).
func TestMain(m *testing.M) {
	testscript.Main(mainM{m}, map[string]func(){
		"accountvault": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
		// The command as the kms module builds it, with a stand-in KMS
		// (testKMS).
		"accountvault-kms": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, WithMasterKeyURI(testKMS))) },
	})
}

// mainM removes the binary built by buildBinary after the tests.
type mainM struct{ m *testing.M }

func (w mainM) Run() int {
	code := w.m.Run()
	removeBinary()
	removeTemplate()
	return code
}

// TestScript runs the scripts that need no database server:
// testdata/script/*.txt.
func TestScript(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script", "", nil))
}

// TestScriptDB runs testdata/script/db/*.txt against SQLite and against
// Postgres. The scripts read the database from $DB and use the tables
// $TABLE, $TABLE2, $TABLE3 and $TABLE4 (under Postgres, names unique to
// the script run, dropped after it). $QDB is the same database under a
// name that a shell must see quoted (with, for Postgres, a password), and
// $QDB_PW the password that must never be printed.
func TestScriptDB(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testscript.Run(t, scriptParams("testdata/script/db", "sqlite", func(env *testscript.Env) error {
			env.Setenv("DB", filepath.Join(env.WorkDir, "av.db"))
			env.Setenv("QDB", "it's a&b.db")
			env.Setenv("QDB_PW", "no-password-in-a-sqlite-path")
			env.Setenv("BACKEND", "sqlite")
			env.Setenv("TABLE", "accounts")
			env.Setenv("TABLE2", "account")
			env.Setenv("TABLE3", "account_camel")
			env.Setenv("TABLE4", "account_dup")
			return nil
		}))
	})
	t.Run("postgres", func(t *testing.T) {
		url, pool := requirePostgres(t)
		qdb, pw, err := quotableURL(url)
		if err != nil {
			t.Fatal(err)
		}
		testscript.Run(t, scriptParams("testdata/script/db", "postgres", func(env *testscript.Env) error {
			env.Setenv("DB", url)
			env.Setenv("QDB", qdb)
			env.Setenv("QDB_PW", pw)
			env.Setenv("BACKEND", "postgres")
			tables := []string{uniqueTable("avcli"), uniqueTable("avcli_legacy"), uniqueTable("avcli_camel"), uniqueTable("avcli_dup")}
			env.Setenv("TABLE", tables[0])
			env.Setenv("TABLE2", tables[1])
			env.Setenv("TABLE3", tables[2])
			env.Setenv("TABLE4", tables[3])
			env.Defer(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				for _, tb := range tables {
					if err := pgtest.Drop(ctx, pool, "", tb); err != nil {
						env.T().Fatal("dropping test table " + tb + ": " + err.Error())
					}
				}
			})
			return nil
		}))
	})
}

// quotableURL returns the test server's URL with a password and a second
// query parameter (so its query holds '&'), and the password. A URL without
// a password gets a made-up one, which the test server (trust
// authentication) ignores; one with a password keeps it, and the returned
// password is a marker that cannot appear in any output.
func quotableURL(s string) (qdb, pw string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("test Postgres URL: %w", err)
	}
	pw = "avhints-not-a-real-password"
	if _, ok := u.User.Password(); !ok {
		user := "root"
		if u.User != nil && u.User.Username() != "" {
			user = u.User.Username()
		}
		u.User = url.UserPassword(user, pw)
	} else {
		pw = "avhints-marker-never-printed"
	}
	q := u.Query()
	if !q.Has("sslmode") {
		q.Set("sslmode", "prefer")
	}
	q.Set("application_name", "avcli_hints")
	u.RawQuery = q.Encode()
	return u.String(), pw, nil
}

// scriptParams returns the parameters of a script run. backend ("sqlite",
// "postgres" or "") is the condition [sqlite] or [postgres] the scripts
// can test.
func scriptParams(dir, backend string, setup func(*testscript.Env) error) testscript.Params {
	p := testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "sqlite", "postgres":
				return cond == backend, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			for _, name := range []string{"ACCOUNTVAULT_MASTER_KEY", "OTHER_MASTER_KEY", "NEW_MASTER_KEY"} {
				mk, err := keyring.NewMasterKey()
				if err != nil {
					return err
				}
				env.Setenv(name, mk)
			}
			env.Setenv("ACCOUNTVAULT_KEYRING", "keyring.json")
			// Under -race, the accountvault processes would otherwise
			// sleep 1s at exit (the race runtime's default).
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			if setup != nil {
				return setup(env)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"seed":          cmdSeed,
			"legacydb":      cmdLegacyDB,
			"snapshot":      cmdSnapshot,
			"tamper":        cmdTamper,
			"plant":         cmdPlant,
			"verifytokens":  cmdVerifyTokens,
			"columntype":    cmdColumnType,
			"adopttable":    cmdAdoptTable,
			"verifyadopted": cmdVerifyAdopted,
			"rawsnapshot":   cmdRawSnapshot,
			"tableexists":   cmdTableExists,
			"refusewrites":  cmdRefuseWrites,
			"reversecamel":  cmdReverseCamel,
			"bafixture":     cmdBAFixture,
			"basecrets":     cmdBASecrets,
			"batokens":      cmdBATokens,
			"baplain":       cmdBAPlain,
			"verifyfixture": cmdVerifyFixture,
			"rawexec":       cmdRawExec,
		},
	}
	for name, cmd := range scripttest.Cmds() {
		p.Cmds[name] = cmd
	}
	return p
}

// scriptKeyring loads the script's keyring ($ACCOUNTVAULT_KEYRING) under
// its master key.
func scriptKeyring(ts *testscript.TestScript) *keyring.Keyring {
	master, err := keyring.ParseMasterKey(ts.Getenv("ACCOUNTVAULT_MASTER_KEY"))
	ts.Check(err)
	k, err := keyring.LoadFile(ts.MkAbs(ts.Getenv("ACCOUNTVAULT_KEYRING")), master)
	ts.Check(err)
	return k
}

func dbArg(ts *testscript.TestScript, arg string) string {
	if isPostgresURL(arg) {
		return arg
	}
	return ts.MkAbs(arg)
}

// seed DB TABLE N [TAG]: create and migrate the table if needed, and
// upsert accounts 0..N-1 (tokens tagged TAG, default "seed") through a
// store over the script's keyring.
func cmdSeed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || len(args) > 4 {
		ts.Fatalf("usage: seed DB TABLE N [TAG]")
	}
	n, err := strconv.Atoi(args[2])
	ts.Check(err)
	tag := "seed"
	if len(args) == 4 {
		tag = args[3]
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	ts.Check(seed(ctx, dbArg(ts, args[0]), args[1], scriptKeyring(ts), 0, n, tag))
}

// legacydb DB TABLE N: create TABLE in better-auth's shape with TEXT token
// columns holding N rows of plaintext tokens (tag "legacy"), and one
// credential row.
func cmdLegacyDB(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: legacydb DB TABLE N")
	}
	n, err := strconv.Atoi(args[2])
	ts.Check(err)
	ctx, cancel := scripttest.Context()
	defer cancel()
	ts.Check(createLegacyTable(ctx, dbArg(ts, args[0]), args[1], n))
}

// snapshot DB TABLE FILE: write every stored row of TABLE, tokens as
// stored, to FILE (compare two with cmp).
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: snapshot DB TABLE FILE")
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	snap, err := snapshot(ctx, dbArg(ts, args[0]), args[1])
	ts.Check(err)
	if snap == "" {
		ts.Fatalf("snapshot: table %s is empty", args[1])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(snap), 0o600))
}

// tamper DB TABLE FROM TO: copy row FROM's sealed access_token into row TO
// with plain SQL.
func cmdTamper(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: tamper DB TABLE FROM_ID TO_ID")
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	db, err := openRawDB(dbArg(ts, args[0]))
	ts.Check(err)
	defer db.Close()
	res, err := db.ExecContext(ctx, `UPDATE `+quote(args[1])+` SET access_token = (SELECT access_token FROM `+quote(args[1])+` WHERE id = $1) WHERE id = $2`, args[2], args[3])
	ts.Check(err)
	n, err := res.RowsAffected()
	ts.Check(err)
	if n != 1 {
		ts.Fatalf("tamper: %d rows updated, want 1", n)
	}
}

// plant DB TABLE ID COLUMN VALUE: write VALUE, as bytes, into COLUMN of row
// ID with plain SQL, as a database writer would plant a token of their own.
// VALUE may use Go escapes (\x00), for values that are not text.
func cmdPlant(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: plant DB TABLE ID COLUMN VALUE")
	}
	v, err := strconv.Unquote(`"` + args[4] + `"`)
	ts.Check(err)
	ctx, cancel := scripttest.Context()
	defer cancel()
	db, err := openRawDB(dbArg(ts, args[0]))
	ts.Check(err)
	defer db.Close()
	res, err := db.ExecContext(ctx, `UPDATE `+quote(args[1])+` SET `+quote(args[3])+` = $1 WHERE id = $2`, []byte(v), args[2])
	ts.Check(err)
	n, err := res.RowsAffected()
	ts.Check(err)
	if n != 1 {
		ts.Fatalf("plant: %d rows updated, want 1", n)
	}
}

// verifytokens DB TABLE FROM COUNT TAG: require accounts FROM..FROM+COUNT-1
// to open through a store over the script's keyring with the tokens seeded
// with TAG.
func cmdVerifyTokens(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: verifytokens DB TABLE FROM COUNT TAG")
	}
	from, err := strconv.Atoi(args[2])
	ts.Check(err)
	n, err := strconv.Atoi(args[3])
	ts.Check(err)
	tag := args[4]
	ctx, cancel := scripttest.Context()
	defer cancel()
	s, d, err := openStore(ctx, dbArg(ts, args[0]), args[1], scriptKeyring(ts))
	ts.Check(err)
	defer d.backend.Close()
	for i := from; i < from+n; i++ {
		want := seedAccount(i, tag)
		got, err := s.FindByProvider(ctx, want.ProviderID, want.AccountID)
		ts.Check(err)
		if got.ID != want.ID || !sameTokens(got, want) {
			ts.Fatalf("row %s: tokens differ from those seeded with tag %q (lengths %d/%d/%d)", want.ID, tag,
				got.AccessToken.Len(), got.RefreshToken.Len(), got.IDToken.Len())
		}
	}
}

// columntype DB TABLE COLUMN: print the declared type of COLUMN (SQLite:
// as declared, e.g. BLOB; Postgres: information_schema's data_type, e.g.
// bytea).
func cmdColumnType(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: columntype DB TABLE COLUMN")
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	db, err := openRawDB(dbArg(ts, args[0]))
	ts.Check(err)
	defer db.Close()
	q := `SELECT type FROM pragma_table_info($1) WHERE name = $2`
	if db.postgres {
		q = `SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2`
	}
	var typ string
	ts.Check(db.QueryRowContext(ctx, q, args[1], args[2]).Scan(&typ))
	fmt.Fprintln(ts.Stdout(), typ)
}
