package cli

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/scripttest"
)

// Test commands for adopting better-auth tables (testdata/script/db/adopt.txt).

// adoptAccount returns the i-th row of a table made by adopttable, as the
// store must read it back once migrated: seedAccount's tokens (tag
// "adopt"), with a non-ASCII access token in every fourth row, and the
// times better-auth wrote, in whole epoch seconds.
func adoptAccount(i int) accountvault.Account {
	a := seedAccount(i, "adopt")
	if i%4 == 1 {
		a.AccessToken = accountvault.NewSecret(fmt.Sprintf("adopt-ключ-🔑-ü-token-%06d", i))
	}
	created := adoptCreated(i)
	a.CreatedAt = created.Truncate(time.Second)
	a.UpdatedAt = a.CreatedAt.Add(time.Hour)
	if a.AccessTokenExpiresAt != nil {
		exp := a.AccessTokenExpiresAt.Add(750 * time.Millisecond)
		a.AccessTokenExpiresAt = &exp // stored with milliseconds
	}
	return a
}

// adoptCreated is row i's createdAt as better-auth stored it, with
// milliseconds (floored away by the conversion).
func adoptCreated(i int) time.Time {
	return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Minute + 250*time.Millisecond)
}

// betterAuthColumns are better-auth's account columns in its CREATE TABLE
// order, snake_case (its adapters' snake_case option); the names of the
// default schema are their camelCase forms.
var betterAuthColumns = []string{
	"id", "account_id", "provider_id", "user_id",
	"access_token", "refresh_token", "id_token",
	"access_token_expires_at", "refresh_token_expires_at",
	"scope", "password", "created_at", "updated_at",
}

// adopttable DB TABLE SHAPE N: create TABLE as better-auth's migrations
// create its account table (SQLite: text and date columns, dates stored as
// ISO-8601 text; Postgres: text and timestamptz columns; no UNIQUE on the
// provider and account ids), holding adoptAccount(0..N-1) with plaintext
// tokens and a credential row. Row 0's missing refresh token is stored as
// an empty string, not NULL. SHAPE is snake (snake_case column names),
// camel (better-auth's default camelCase names) or dup (snake, plus a row
// repeating row 0's provider and account ids).
func cmdAdoptTable(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: adopttable DB TABLE snake|camel|dup N")
	}
	shape := args[2]
	if shape != "snake" && shape != "camel" && shape != "dup" {
		ts.Fatalf("adopttable: unknown shape %q", shape)
	}
	n, err := strconv.Atoi(args[3])
	ts.Check(err)
	ctx, cancel := scripttest.Context()
	defer cancel()
	ts.Check(createBetterAuthTable(ctx, dbArg(ts, args[0]), args[1], shape, n))
}

func createBetterAuthTable(ctx context.Context, dbArg, table, shape string, n int) (err error) {
	db, err := openRawDB(dbArg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	name := func(c string) string {
		if shape == "camel" {
			c = camelCase(c)
		}
		return quote(c)
	}
	timeType, createdDefault := "date", ""
	if db.postgres {
		timeType, createdDefault = "timestamptz", " default CURRENT_TIMESTAMP"
	}
	types := map[string]string{
		"id":                       "text not null primary key",
		"account_id":               "text not null",
		"provider_id":              "text not null",
		"user_id":                  "text not null",
		"access_token_expires_at":  timeType,
		"refresh_token_expires_at": timeType,
		"created_at":               timeType + createdDefault + " not null",
		"updated_at":               timeType + " not null",
	}
	defs := make([]string, len(betterAuthColumns))
	cols := make([]string, len(betterAuthColumns))
	params := make([]string, len(betterAuthColumns))
	for i, c := range betterAuthColumns {
		typ, ok := types[c]
		if !ok {
			typ = "text"
		}
		defs[i] = name(c) + " " + typ
		cols[i] = name(c)
		params[i] = "$" + strconv.Itoa(i+1)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+quote(table)+` (`+strings.Join(defs, ", ")+`)`); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil {
				err = fmt.Errorf("%w (and rollback: %v)", err, rerr)
			}
		}
	}()
	ins := `INSERT INTO ` + quote(table) + ` (` + strings.Join(cols, ", ") + `) VALUES (` + strings.Join(params, ", ") + `)`
	// A time as better-auth writes it: an ISO-8601 string with
	// milliseconds in SQLite (the second form is SQLite's own
	// CURRENT_TIMESTAMP, which a default may have written), a timestamptz
	// in Postgres.
	stamp := func(t *time.Time, sqliteForm bool) any {
		switch {
		case t == nil:
			return nil
		case db.postgres:
			return *t
		case sqliteForm:
			return t.UTC().Format(time.DateTime)
		}
		return t.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	insert := func(a accountvault.Account, refresh any, created time.Time) error {
		updated := created.Add(time.Hour)
		_, err := tx.ExecContext(ctx, ins, a.ID, a.AccountID, a.ProviderID, a.UserID,
			nullText(a.AccessToken), refresh, nullText(a.IDToken),
			stamp(a.AccessTokenExpiresAt, false), nil, nullText(accountvault.NewSecret(a.Scope)), nullText(a.Password),
			stamp(&created, false), stamp(&updated, a.ID[len(a.ID)-1]%2 == 1))
		return err
	}
	for i := range n {
		a := adoptAccount(i)
		var refresh any = nullText(a.RefreshToken)
		if i == 0 {
			refresh = "" // an empty string, not NULL
		}
		if err := insert(a, refresh, adoptCreated(i)); err != nil {
			return fmt.Errorf("row %d: %w", i, err)
		}
	}
	cred := accountvault.Account{ID: "cred_adopt", UserID: "user_000000", ProviderID: accountvault.ProviderCredential, AccountID: "user_000000",
		Password: accountvault.NewSecret(betterAuthHash())}
	if err := insert(cred, nil, adoptCreated(0)); err != nil {
		return err
	}
	if shape == "dup" && n > 0 {
		dup := adoptAccount(0)
		dup.ID = "acc_dup"
		if err := insert(dup, nil, adoptCreated(0)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// betterAuthHash returns a made-up password hash in better-auth's scrypt
// format (hex salt, colon, hex key).
func betterAuthHash() string {
	return strings.Repeat("ab", 16) + ":" + strings.Repeat("cd", 64)
}

// verifyadopted DB TABLE N: require rows 0..N-1 of a table made by
// adopttable, once migrated, to open through a store over the script's
// keyring with adoptAccount's tokens and times, and the credential row to
// keep its password hash. Failures name ids and lengths, never tokens.
func cmdVerifyAdopted(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: verifyadopted DB TABLE N")
	}
	n, err := strconv.Atoi(args[2])
	ts.Check(err)
	ctx, cancel := scripttest.Context()
	defer cancel()
	s, d, err := openStore(ctx, dbArg(ts, args[0]), args[1], scriptKeyring(ts))
	ts.Check(err)
	defer d.backend.Close()
	unix := func(t *time.Time) int64 {
		if t == nil {
			return -1
		}
		return t.Unix()
	}
	for i := range n {
		want := adoptAccount(i)
		got, err := s.FindByProvider(ctx, want.ProviderID, want.AccountID)
		ts.Check(err)
		if got.ID != want.ID || !sameTokens(got, want) {
			ts.Fatalf("row %s: tokens differ from those better-auth stored (lengths %d/%d/%d, want %d/%d/%d)", want.ID,
				got.AccessToken.Len(), got.RefreshToken.Len(), got.IDToken.Len(),
				want.AccessToken.Len(), want.RefreshToken.Len(), want.IDToken.Len())
		}
		if got.CreatedAt.Unix() != want.CreatedAt.Unix() || got.UpdatedAt.Unix() != want.UpdatedAt.Unix() ||
			unix(got.AccessTokenExpiresAt) != unix(want.AccessTokenExpiresAt) || got.RefreshTokenExpiresAt != nil {
			ts.Fatalf("row %s: times %d/%d/%d, want %d/%d/%d", want.ID,
				got.CreatedAt.Unix(), got.UpdatedAt.Unix(), unix(got.AccessTokenExpiresAt),
				want.CreatedAt.Unix(), want.UpdatedAt.Unix(), unix(want.AccessTokenExpiresAt))
		}
		if got.Scope != want.Scope {
			ts.Fatalf("row %s: scope %q, want %q", want.ID, got.Scope, want.Scope)
		}
	}
	// The credential row: the store reads it back; its hash is unchanged.
	rows, err := d.backend.FindForUser(ctx, "user_000000")
	ts.Check(err)
	found := false
	for _, r := range rows {
		if r.ID == "cred_adopt" {
			found = true
			if r.Password.Reveal() != betterAuthHash() {
				ts.Fatalf("row cred_adopt: password hash changed (length %d)", r.Password.Len())
			}
		}
	}
	if !found {
		ts.Fatalf("row cred_adopt is missing")
	}
}

// rawsnapshot DB TABLE FILE: write to FILE what plain SQL sees of TABLE:
// its columns and declared types, its indexes, its row in
// accountvault_schema, and a hash of each row's values, in id order. Two
// equal snapshots mean the table is unchanged. It reads tables that the
// backends cannot (camelCase columns).
func cmdRawSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: rawsnapshot DB TABLE FILE")
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	snap, err := rawSnapshot(ctx, dbArg(ts, args[0]), args[1])
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(snap), 0o600))
}

func rawSnapshot(ctx context.Context, dbArg, table string) (_ string, err error) {
	db, err := openRawDB(dbArg)
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}()
	var b strings.Builder
	catalog := []struct{ label, q string }{
		{"column", `SELECT name || ' ' || type || ' ' || "notnull" FROM pragma_table_info($1)`},
		{"index", `SELECT name || ' ' || "unique" FROM pragma_index_list($1)`},
		{"version", `SELECT CAST(version AS TEXT) FROM accountvault_schema WHERE table_name = $1 COLLATE NOCASE`},
	}
	if db.postgres {
		catalog = []struct{ label, q string }{
			{"column", `SELECT attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull::text FROM pg_attribute
				WHERE attrelid = to_regclass(quote_ident($1)) AND attnum > 0 AND NOT attisdropped`},
			{"index", `SELECT indexrelid::regclass::text || ' ' || indisunique::text FROM pg_index WHERE indrelid = to_regclass(quote_ident($1))`},
			{"version", `SELECT version::text FROM accountvault_schema WHERE table_name = $1`},
		}
	}
	for _, c := range catalog {
		lines, err := queryStrings(ctx, db.DB, c.q, table)
		if err != nil && !(c.label == "version" && isNoSuchTable(err)) {
			return "", fmt.Errorf("%s: %w", c.label, err)
		}
		slices.Sort(lines)
		if len(lines) == 0 {
			lines = []string{"none"}
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "%s %s\n", c.label, l)
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT * FROM `+quote(table)+` ORDER BY id`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return "", err
	}
	vals := make([]any, len(names))
	dest := make([]any, len(names))
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return "", err
		}
		h := sha256.New()
		for i, v := range vals {
			fmt.Fprintf(h, "%s=%T:%v|", names[i], v, v)
		}
		fmt.Fprintf(&b, "row %v %s\n", vals[slices.Index(names, "id")], hex.EncodeToString(h.Sum(nil))[:16])
	}
	return b.String(), rows.Err()
}

func queryStrings(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

var noSuchTableRE = regexp.MustCompile(`no such table|does not exist`)

func isNoSuchTable(err error) bool { return noSuchTableRE.MatchString(err.Error()) }

// tableexists DB TABLE: succeed if the catalog names a table TABLE (with
// !, if it does not).
func cmdTableExists(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: [!] tableexists DB TABLE")
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	db, err := openRawDB(dbArg(ts, args[0]))
	ts.Check(err)
	defer db.Close()
	q := `SELECT count(*) FROM sqlite_master WHERE name = $1 COLLATE NOCASE`
	if db.postgres {
		q = `SELECT count(*) FROM pg_class WHERE oid = to_regclass(quote_ident($1))`
	}
	var n int
	ts.Check(db.QueryRowContext(ctx, q, args[1]).Scan(&n))
	switch {
	case n > 0 && neg:
		ts.Fatalf("table %s exists", args[1])
	case n == 0 && !neg:
		ts.Fatalf("table %s does not exist", args[1])
	}
}

// refusewrites DB TABLE SQLSTATE|off: make every UPDATE of TABLE fail, by
// a trigger raising "writes refused by test trigger" (Postgres: with that
// SQLSTATE; SQLite: RAISE(ABORT), whatever the code), or drop the trigger.
func cmdRefuseWrites(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: refusewrites DB TABLE SQLSTATE|off")
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	arg, table, code := dbArg(ts, args[0]), args[1], args[2]
	if !regexp.MustCompile(`^([0-9A-Z]{5}|off)$`).MatchString(code) {
		ts.Fatalf("refusewrites: bad SQLSTATE %q", code)
	}
	db, err := openRawDB(arg)
	ts.Check(err)
	defer db.Close()
	fn, trig := quote(table+"_nowrite"), quote(table+"_nowrite")
	var stmts []string
	switch {
	case code == "off" && db.postgres:
		stmts = []string{`DROP FUNCTION ` + fn + `() CASCADE`}
	case code == "off":
		stmts = []string{`DROP TRIGGER ` + trig}
	case db.postgres:
		stmts = []string{
			`CREATE FUNCTION ` + fn + `() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'writes refused by test trigger' USING ERRCODE = '` + code + `'; END $$`,
			`CREATE TRIGGER ` + trig + ` BEFORE UPDATE ON ` + quote(table) + ` FOR EACH ROW EXECUTE FUNCTION ` + fn + `()`,
		}
		ts.Defer(func() {
			ctx, cancel := scripttest.Context()
			defer cancel()
			db, err := openRawDB(arg)
			if err != nil {
				ts.Logf("dropping %s: %v", fn, err)
				return
			}
			defer db.Close()
			if _, err := db.ExecContext(ctx, `DROP FUNCTION IF EXISTS `+fn+`() CASCADE`); err != nil {
				ts.Logf("dropping %s: %v", fn, err)
			}
		})
	default:
		stmts = []string{`CREATE TRIGGER ` + trig + ` BEFORE UPDATE ON ` + quote(table) +
			` BEGIN SELECT RAISE(ABORT, 'writes refused by test trigger'); END`}
	}
	for _, s := range stmts {
		_, err := db.ExecContext(ctx, s)
		ts.Check(err)
	}
}

// reversecamel DB TABLE: run, on TABLE, the statements of SECURITY.md's
// runbook that give an adopted better-auth table its camelCase column
// names back (its table is "account").
func cmdReverseCamel(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: reversecamel DB TABLE")
	}
	doc, err := os.ReadFile("../../SECURITY.md")
	ts.Check(err)
	re := regexp.MustCompile(`(?m)^ALTER TABLE account (RENAME COLUMN [a-z_]+ TO "[A-Za-z]+");$`)
	m := re.FindAllStringSubmatch(string(doc), -1)
	if len(m) != 10 {
		ts.Fatalf("reversecamel: SECURITY.md holds %d reverse rename statements, want 10", len(m))
	}
	ctx, cancel := scripttest.Context()
	defer cancel()
	db, err := openRawDB(dbArg(ts, args[0]))
	ts.Check(err)
	defer db.Close()
	for _, s := range m {
		_, err := db.ExecContext(ctx, `ALTER TABLE `+quote(args[1])+` `+s[1])
		ts.Check(err)
	}
}
