package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskmsapi "github.com/aws/aws-sdk-go-v2/service/kms"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the legacy table and snapshots
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/tink-crypto/tink-go/v2/tink"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, likewise

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/postgres"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/internal/pgtest"
	"github.com/accountvault/accountvault/internal/scripttest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/kms"
	"github.com/accountvault/accountvault/kms/internal/localkmstest"
	"github.com/accountvault/accountvault/store"
)

// TestMain lets the test binary run as this command, with this command's
// resolver (masterKey), in test scripts: testscript re-executes it under
// the name accountvault. The scripts reach local-kms, which the first test
// that needs it builds and starts (package internal/localkmstest), through
// AWS_ENDPOINT_URL_KMS, as an operator would.
func TestMain(m *testing.M) {
	testscript.Main(mainM{m}, map[string]func(){
		"accountvault": func() { os.Exit(run(os.Args[1:])) },
	})
}

type mainM struct{ m *testing.M }

func (w mainM) Run() int {
	code := w.m.Run()
	if err := localkmstest.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping local-kms:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// localKMS returns the URL of the running local-kms, or skips t (fails it
// under CI=true) if it cannot be built or started.
func localKMS(t *testing.T) string {
	t.Helper()
	u, err := localkmstest.URL()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("local-kms is required under CI=true: %v", err)
		}
		t.Skipf("local-kms unavailable (under CI=true this fails): %v", err)
	}
	return u
}

// TestScript runs testdata/script/*.txt, the operator's walkthrough with
// an aws-kms:// master key and the refusals when the KMS stops serving it,
// against SQLite and against Postgres. The scripts read the database from
// $DB and use the tables $TABLE and $TABLE2 (under Postgres, names unique
// to the run, dropped after it).
func TestScript(t *testing.T) {
	kmsURL := localKMS(t)
	t.Run("sqlite", func(t *testing.T) {
		testscript.Run(t, scriptParams(t, kmsURL, func(env *testscript.Env) error {
			env.Setenv("DB", filepath.Join(env.WorkDir, "av.db"))
			env.Setenv("TABLE", "accounts")
			env.Setenv("TABLE2", "account")
			return nil
		}))
	})
	t.Run("postgres", func(t *testing.T) {
		pool := pgtest.Pool(t)
		testscript.Run(t, scriptParams(t, kmsURL, func(env *testscript.Env) error {
			env.Setenv("DB", pgtest.URL())
			tables := []string{uniqueTable("avkms"), uniqueTable("avkms_legacy")}
			env.Setenv("TABLE", tables[0])
			env.Setenv("TABLE2", tables[1])
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

func uniqueTable(prefix string) string {
	return prefix + "_" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(int(tableSeq.Add(1)))
}

var tableSeq atomic.Int64

// kmsProxy stands between a script's accountvault processes and local-kms:
// it counts the requests that reach the KMS (retries included) and, while
// deny is set, answers each one as AWS answers a caller whose permission
// on the key was revoked.
type kmsProxy struct {
	calls atomic.Int64
	deny  atomic.Bool
	// denyDecrypt answers Decrypt requests only as deny does: a caller
	// whose IAM policy grants kms:Encrypt but not kms:Decrypt.
	denyDecrypt atomic.Bool
}

func newKMSProxy(t *testing.T, kmsURL string) (*kmsProxy, string) {
	target, err := url.Parse(kmsURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := new(kmsProxy)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.calls.Add(1)
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
		if !p.deny.Load() && !(p.denyDecrypt.Load() && op == "Decrypt") {
			rp.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":"AccessDeniedException","message":"User: arn:aws:sts::%s:assumed-role/app/i-0123 is not authorized to perform: kms:%s on this resource because no identity-based policy allows the kms:%s action"}`,
			localkmstest.Account, op, op)
	}))
	t.Cleanup(srv.Close)
	return p, srv.URL
}

// localKMSConfig is an AWS configuration for local-kms itself (not through
// a script's proxy), for what the scripts do besides the command: create,
// disable and enable keys, and load the keyring to seed and verify rows.
func localKMSConfig(kmsURL string) aws.Config {
	return aws.Config{
		Region:       localkmstest.Region,
		BaseEndpoint: aws.String(kmsURL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDLOCALKMSTEST", "local-kms-checks-no-signature", ""),
	}
}

const (
	keyProxy  = "kmsproxy"
	keyKMSURL = "kmsurl"
)

func scriptParams(t *testing.T, kmsURL string, setup func(*testscript.Env) error) testscript.Params {
	p := testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			p, proxyURL := newKMSProxy(t, kmsURL)
			env.Values[keyProxy] = p
			env.Values[keyKMSURL] = kmsURL
			// The AWS SDK's own settings, as an operator sets them for
			// local-kms (see the README): the endpoint, and throwaway
			// credentials (local-kms checks no signature). No shared
			// files, no instance metadata.
			env.Setenv("AWS_ENDPOINT_URL_KMS", proxyURL)
			env.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCALKMSTEST")
			env.Setenv("AWS_SECRET_ACCESS_KEY", "local-kms-checks-no-signature")
			env.Setenv("AWS_CONFIG_FILE", filepath.Join(env.WorkDir, "no-aws-config"))
			env.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(env.WorkDir, "no-aws-credentials"))
			env.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			for _, name := range []string{"LOCAL_MASTER_KEY", "OTHER_LOCAL_MASTER_KEY"} {
				mk, err := keyring.NewMasterKey()
				if err != nil {
					return err
				}
				env.Setenv(name, mk)
			}
			env.Setenv("ACCOUNTVAULT_KEYRING", "keyring.json")
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return setup(env)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"kmskey":       cmdKMSKey,
			"kmskeystate":  cmdKMSKeyState,
			"kmsdeny":      cmdKMSDeny,
			"kmscalls":     cmdKMSCalls,
			"legacydb":     cmdLegacyDB,
			"seed":         cmdSeed,
			"verifytokens": cmdVerifyTokens,
			"snapshot":     cmdSnapshot,
		},
	}
	for name, cmd := range scripttest.Cmds() {
		p.Cmds[name] = cmd
	}
	return p
}

func kmsAdmin(ts *testscript.TestScript) *awskmsapi.Client {
	return awskmsapi.NewFromConfig(localKMSConfig(ts.Value(keyKMSURL).(string)))
}

// kmskey VAR: create a symmetric key in local-kms through its API and set
// $VAR to its aws-kms:// URI.
func cmdKMSKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: kmskey VAR")
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	out, err := kmsAdmin(ts).CreateKey(ctx, &awskmsapi.CreateKeyInput{Description: aws.String("accountvault cmd test")})
	ts.Check(err)
	ts.Setenv(args[0], kms.SchemeAWS+aws.ToString(out.KeyMetadata.Arn))
}

// kmskeystate VAR enable|disable: enable or disable the key of the URI in
// $VAR through the local-kms API.
func cmdKMSKeyState(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: kmskeystate VAR enable|disable")
	}
	arn := aws.String(strings.TrimPrefix(ts.Getenv(args[0]), kms.SchemeAWS))
	ctx, cancel := scripttest.Context()
	defer cancel()
	var err error
	switch args[1] {
	case "enable":
		_, err = kmsAdmin(ts).EnableKey(ctx, &awskmsapi.EnableKeyInput{KeyId: arn})
	case "disable":
		_, err = kmsAdmin(ts).DisableKey(ctx, &awskmsapi.DisableKeyInput{KeyId: arn})
	default:
		ts.Fatalf("usage: kmskeystate VAR enable|disable")
	}
	ts.Check(err)
}

// kmsdeny on|off|decrypt: make the script's proxy answer every KMS
// request with AccessDeniedException (the application's permission
// revoked), or only Decrypt requests (decrypt: a policy that grants
// kms:Encrypt only), or pass them through again (off).
func cmdKMSDeny(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 || (args[0] != "on" && args[0] != "off" && args[0] != "decrypt") {
		ts.Fatalf("usage: kmsdeny on|off|decrypt")
	}
	p := ts.Value(keyProxy).(*kmsProxy)
	p.deny.Store(args[0] == "on")
	p.denyDecrypt.Store(args[0] == "decrypt")
}

// kmscalls N: require that N requests reached the KMS through the script's
// proxy since the previous kmscalls (or the start), retries included.
func cmdKMSCalls(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: kmscalls N")
	}
	want, err := strconv.ParseInt(args[0], 10, 64)
	ts.Check(err)
	if got := ts.Value(keyProxy).(*kmsProxy).calls.Swap(0); got != want {
		ts.Fatalf("%d requests reached the KMS, want %d", got, want)
	}
}

// seedAccount returns the i-th test account: two tokens, tagged tag.
func seedAccount(i int, tag string) accountvault.Account {
	return accountvault.Account{
		ID:           fmt.Sprintf("acc_%06d", i),
		UserID:       fmt.Sprintf("user_%06d", i/2),
		ProviderID:   "github",
		AccountID:    fmt.Sprintf("gh-%06d", i),
		AccessToken:  accountvault.NewSecret(fmt.Sprintf("%s-access-token-%06d", tag, i)),
		RefreshToken: accountvault.NewSecret(fmt.Sprintf("%s-refresh-token-%06d", tag, i)),
		Scope:        "read:user",
	}
}

func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

func dbArg(ts *testscript.TestScript, arg string) string {
	if isPostgres(arg) {
		return arg
	}
	return ts.MkAbs(arg)
}

// openRaw opens a plain database/sql handle, for what the scripts do
// behind the library's back: a legacy table, snapshots.
func openRaw(db string) (*sql.DB, bool, error) {
	if isPostgres(db) {
		d, err := sql.Open("pgx", db)
		return d, true, err
	}
	d, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: db, RawQuery: "_pragma=busy_timeout(10000)"}).String())
	return d, false, err
}

// legacydb DB TABLE N: create TABLE in better-auth's shape (snake_case,
// TEXT token columns) holding N rows of plaintext tokens tagged "legacy".
func cmdLegacyDB(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: legacydb DB TABLE N")
	}
	n, err := strconv.Atoi(args[2])
	ts.Check(err)
	ctx, cancel := scripttest.Context()
	defer cancel()
	db, pg, err := openRaw(dbArg(ts, args[0]))
	ts.Check(err)
	defer db.Close()
	intType := "INTEGER"
	if pg {
		intType = "BIGINT"
	}
	table := `"` + args[1] + `"`
	_, err = db.ExecContext(ctx, `CREATE TABLE `+table+` (
		id TEXT NOT NULL PRIMARY KEY, user_id TEXT NOT NULL, provider_id TEXT NOT NULL, account_id TEXT NOT NULL,
		access_token TEXT, refresh_token TEXT, id_token TEXT,
		access_token_expires_at `+intType+`, refresh_token_expires_at `+intType+`,
		scope TEXT, password TEXT, created_at `+intType+` NOT NULL, updated_at `+intType+` NOT NULL,
		UNIQUE (provider_id, account_id))`)
	ts.Check(err)
	now := time.Now().Unix()
	for i := range n {
		a := seedAccount(i, "legacy")
		_, err := db.ExecContext(ctx, `INSERT INTO `+table+` (id, user_id, provider_id, account_id, access_token, refresh_token, scope, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			a.ID, a.UserID, a.ProviderID, a.AccountID, a.AccessToken.Reveal(), a.RefreshToken.Reveal(), a.Scope, now, now)
		ts.Check(err)
	}
}

// backend is what the scripts need of a backend: both SQL backends have it.
type backend interface {
	accountvault.Backend
	accountvault.Metadata
	Migrate(ctx context.Context) error
	Close() error
}

// openBackend opens TABLE of DB (creating and migrating it if create).
func openBackend(ctx context.Context, db, table string, create bool) (backend, error) {
	var (
		b   backend
		err error
	)
	if isPostgres(db) {
		b, err = postgres.Open(ctx, db, postgres.WithTable(table))
	} else {
		b, err = sqlite.Open(db, sqlite.WithTable(table))
	}
	if err != nil || !create {
		return b, err
	}
	if err := b.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("%w (closing: %v)", err, b.Close())
	}
	return b, nil
}

// scriptKeyring loads the script's keyring as the command would: the file
// $ACCOUNTVAULT_KEYRING, or the database keyring of b if it is "db"; under
// the KMS key in $ACCOUNTVAULT_MASTER_KEY_URI (reached directly, not
// through the proxy, so that kmscalls counts the command's calls only), or
// else the local key in $ACCOUNTVAULT_MASTER_KEY.
func scriptKeyring(ctx context.Context, ts *testscript.TestScript, b backend) (*keyring.Keyring, error) {
	var master tink.AEAD
	if uri := ts.Getenv("ACCOUNTVAULT_MASTER_KEY_URI"); uri != "" {
		a, err := kms.MasterKey(ctx, uri, kms.WithAWSConfig(localKMSConfig(ts.Value(keyKMSURL).(string))))
		if err != nil {
			return nil, err
		}
		defer a.Close()
		master = a
	} else {
		a, err := keyring.ParseMasterKey(ts.Getenv("ACCOUNTVAULT_MASTER_KEY"))
		if err != nil {
			return nil, err
		}
		master = a
	}
	if ts.Getenv("ACCOUNTVAULT_KEYRING") == "db" {
		d, err := store.NewDBKeyring(b)
		if err != nil {
			return nil, err
		}
		return d.Load(ctx, master)
	}
	return keyring.LoadFile(ts.MkAbs(ts.Getenv("ACCOUNTVAULT_KEYRING")), master)
}

// withStore opens TABLE of DB (created and migrated if need be) in a
// store over the script's keyring and calls f.
func withStore(ts *testscript.TestScript, db, table string, f func(ctx context.Context, s *store.Store)) {
	ctx, cancel := scripttest.Context()
	defer cancel()
	b, err := openBackend(ctx, dbArg(ts, db), table, true)
	ts.Check(err)
	defer func() { ts.Check(b.Close()) }()
	k, err := scriptKeyring(ctx, ts, b)
	ts.Check(err)
	keys, err := k.KEK()
	ts.Check(err)
	s, err := store.New(b, keys)
	ts.Check(err)
	f(ctx, s)
}

// seed DB TABLE FROM N TAG: upsert accounts FROM..FROM+N-1 (tokens tagged
// TAG) through a store over the script's keyring, as the application does.
func cmdSeed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: seed DB TABLE FROM N TAG")
	}
	from, err := strconv.Atoi(args[2])
	ts.Check(err)
	n, err := strconv.Atoi(args[3])
	ts.Check(err)
	withStore(ts, args[0], args[1], func(ctx context.Context, s *store.Store) {
		for i := from; i < from+n; i++ {
			_, err := s.Upsert(ctx, seedAccount(i, args[4]))
			ts.Check(err)
		}
	})
}

// verifytokens DB TABLE FROM N TAG: require accounts FROM..FROM+N-1 to open
// through a store over the script's keyring with the tokens tagged TAG.
func cmdVerifyTokens(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: verifytokens DB TABLE FROM N TAG")
	}
	from, err := strconv.Atoi(args[2])
	ts.Check(err)
	n, err := strconv.Atoi(args[3])
	ts.Check(err)
	withStore(ts, args[0], args[1], func(ctx context.Context, s *store.Store) {
		for i := from; i < from+n; i++ {
			want := seedAccount(i, args[4])
			got, err := s.FindByProvider(ctx, want.ProviderID, want.AccountID)
			ts.Check(err)
			if got.ID != want.ID || !got.AccessToken.Equal(want.AccessToken) || !got.RefreshToken.Equal(want.RefreshToken) {
				ts.Fatalf("row %s: tokens differ from those tagged %q", want.ID, args[4])
			}
		}
	})
}

// snapshot DB TABLE FILE: write every row of TABLE, as stored (any column
// types, sealed or not), to FILE, in id order: compare two with cmp.
// snapshot DB TABLE FILE meta: the same of TABLE's rows in
// accountvault_meta (the database keyring, the recorded generation).
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 || len(args) > 4 || (len(args) == 4 && args[3] != "meta") {
		ts.Fatalf("usage: snapshot DB TABLE FILE [meta]")
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	db, _, err := openRaw(dbArg(ts, args[0]))
	ts.Check(err)
	defer db.Close()
	query, qargs := `SELECT * FROM "`+args[1]+`" ORDER BY id`, []any(nil)
	if len(args) == 4 {
		query, qargs = `SELECT name, value FROM accountvault_meta WHERE table_name = $1 ORDER BY name`, []any{args[1]}
	}
	rows, err := db.QueryContext(ctx, query, qargs...)
	ts.Check(err)
	defer rows.Close()
	cols, err := rows.Columns()
	ts.Check(err)
	var b strings.Builder
	n := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		ts.Check(rows.Scan(ptrs...))
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = fmt.Sprintf("%x", bs)
			}
			fmt.Fprintf(&b, "%s=%v|", cols[i], v)
		}
		b.WriteString("\n")
		n++
	}
	ts.Check(rows.Err())
	if n == 0 {
		ts.Fatalf("snapshot: table %s is empty", args[1])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(b.String()), 0o600))
}
