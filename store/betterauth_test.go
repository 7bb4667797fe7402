package store_test

// Adopting the databases that better-auth 1.7.25 itself wrote
// (testdata/betterauth): with encryptOAuthTokens on, its access and
// refresh tokens are its own ciphertext, which EncryptLegacy must open
// with the deployment's secrets, or refuse, and never seal as a token.

import (
	"bytes"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/postgres"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/crypto/betterauth"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/internal/betterauthtest"
	"github.com/accountvault/accountvault/internal/pgtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// baTable is a better-auth fixture database, adopted by its backend's
// Adopt as `accountvault migrate` does: a table being adopted.
type baTable struct {
	f       *betterauthtest.Fixture
	kind    string
	backend accountvault.Backend
	// raw returns the stored bytes of column col of row id (nil for NULL).
	raw func(t *testing.T, id, col string) []byte
	// set stores v in column col of row id.
	set func(t *testing.T, id, col string, v []byte)
}

// adoptFixture loads the better-auth fixture named kind+"-"+variant into a
// scratch database (a copy of the SQLite file, or the SQL dump in a schema
// of its own) and adopts its account table as better-auth wrote it
// (camelCase columns: Adopt renames them).
func adoptFixture(t *testing.T, kind, variant string) *baTable {
	t.Helper()
	f := betterauthtest.Load(t).Fixture(t, kind+"-"+variant)
	bt := &baTable{f: f, kind: kind}
	var adopt func() error
	switch kind {
	case "sqlite":
		path := betterauthtest.CopySQLite(t, f)
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		b, err := sqlite.Open(path, sqlite.WithTable("account"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("closing the sqlite backend: %v", err)
			}
		})
		bt.backend, adopt = b, func() error { return b.Adopt(ctx) }
		bt.raw = func(t *testing.T, id, col string) []byte {
			t.Helper()
			var v []byte
			if err := db.QueryRowContext(ctx, `SELECT `+col+` FROM account WHERE id = ?`, id).Scan(&v); err != nil {
				t.Fatalf("reading %s of row %s: %v", col, id, err)
			}
			return v
		}
		bt.set = func(t *testing.T, id, col string, v []byte) {
			t.Helper()
			if _, err := db.ExecContext(ctx, `UPDATE account SET `+col+` = ? WHERE id = ?`, v, id); err != nil {
				t.Fatalf("writing %s of row %s: %v", col, id, err)
			}
		}
	case "postgres":
		schema := betterauthtest.LoadPostgres(t, f) // skips without a server
		pool := pgtest.Pool(t)
		table := schema + ".account"
		b, err := postgres.New(pool, postgres.WithSchema(schema), postgres.WithTable("account"))
		if err != nil {
			t.Fatal(err)
		}
		bt.backend, adopt = b, func() error { return b.Adopt(ctx) }
		bt.raw = func(t *testing.T, id, col string) []byte {
			t.Helper()
			var v []byte
			if err := pool.QueryRow(ctx, `SELECT `+col+` FROM `+table+` WHERE id = $1`, id).Scan(&v); err != nil {
				t.Fatalf("reading %s of row %s: %v", col, id, err)
			}
			return v
		}
		bt.set = func(t *testing.T, id, col string, v []byte) {
			t.Helper()
			if _, err := pool.Exec(ctx, `UPDATE `+table+` SET `+col+` = $1 WHERE id = $2`, v, id); err != nil {
				t.Fatalf("writing %s of row %s: %v", col, id, err)
			}
		}
	default:
		t.Fatalf("unknown backend %q", kind)
	}
	if err := adopt(); err != nil {
		t.Fatalf("Adopt of %s: %v", f.Name, err)
	}
	return bt
}

// store returns a store over the table with k's keys.
func (bt *baTable) store(t *testing.T, k *keyring.Keyring, opts ...store.Option) *store.Store {
	t.Helper()
	s, err := store.New(bt.backend, kekOf(t, k), append([]store.Option{store.WithPasswordHasher(testHasher(t))}, opts...)...)
	if err != nil {
		t.Fatalf("store.New: %v", err)
	}
	return s
}

// baColumns maps the manifest's token names to accountvault's columns.
var baColumns = map[string]string{"accessToken": "access_token", "refreshToken": "refresh_token", "idToken": "id_token"}

// eachFixtureKind runs fn as a subtest for SQLite and Postgres.
func eachFixtureKind(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
}

// encryptedTokens returns the (row id, column) of every token value
// better-auth encrypted in f.
func encryptedTokens(f *betterauthtest.Fixture) [][2]string {
	var out [][2]string
	for _, a := range f.Accounts {
		for col, tok := range a.Tokens() {
			if tok.Form != "plaintext" {
				out = append(out, [2]string{a.ID, baColumns[col]})
			}
		}
	}
	return out
}

// TestBetterAuthCiphertextNotSealed: without the deployment's secrets,
// EncryptLegacy must not seal better-auth's ciphertext as if it were the
// token, and Check must not report the table as clean. Before issue 13,
// both did: every access and refresh token then read back as better-auth
// ciphertext, and check showed 0 failed.
func TestBetterAuthCiphertextNotSealed(t *testing.T) {
	eachFixtureKind(t, func(t *testing.T, kind string) {
		for _, variant := range []string{"single", "versioned"} {
			t.Run(variant, func(t *testing.T) {
				bt := adoptFixture(t, kind, variant)
				k := genKeyring(t)
				s := bt.store(t, k)
				rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{})
				if err != nil {
					t.Fatal(err)
				}
				enc := encryptedTokens(bt.f)
				rows := map[string]bool{}
				for _, e := range enc {
					rows[e[0]] = true
				}
				if rep.Failed != len(rows) || rep.Finished {
					t.Errorf("EncryptLegacy without secrets: %d rows failed (finished %v), want the %d rows holding better-auth ciphertext", rep.Failed, rep.Finished, len(rows))
				}
				for _, e := range enc {
					if v := bt.raw(t, e[0], e[1]); envelope.IsSealed(v) {
						t.Errorf("row %s %s: better-auth ciphertext sealed as a token", e[0], e[1])
					}
				}
				check, err := admin(s).Check(ctx, store.WalkOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if _, _, failed := check.Totals(); failed < len(enc) {
					t.Errorf("Check: %d failed, want at least the %d better-auth encrypted values", failed, len(enc))
				}
			})
		}
	})
}

// parseSecrets returns the Secrets of BETTER_AUTH_SECRETS and
// BETTER_AUTH_SECRET.
func parseSecrets(t *testing.T, secrets, secret string) *betterauth.Secrets {
	t.Helper()
	s, err := betterauth.Parse(secrets, secret)
	if err != nil {
		t.Fatalf("betterauth.Parse: %v", err)
	}
	return s
}

// tokenSecret returns the manifest token's plaintext as a Secret (zero
// for none).
func tokenSecret(tok *betterauthtest.Token) accountvault.Secret {
	if tok == nil {
		return accountvault.Secret{}
	}
	return accountvault.NewSecret(tok.Plaintext)
}

// wantTokens reads every account of the fixture through s and compares its
// tokens with the plaintexts of the manifest, except the rows in skip.
func (bt *baTable) wantTokens(t *testing.T, s *store.Store, skip map[string]bool) {
	t.Helper()
	n := 0
	for _, a := range bt.f.Accounts {
		if skip[a.ID] {
			continue
		}
		got, err := s.FindByProvider(ctx, a.ProviderID, a.AccountID)
		if err != nil {
			t.Errorf("%s: %v", a.Label(), err)
			continue
		}
		n++
		for _, c := range []struct {
			name string
			got  accountvault.Secret
			want *betterauthtest.Token
		}{{"access token", got.AccessToken, a.AccessToken}, {"refresh token", got.RefreshToken, a.RefreshToken}, {"ID token", got.IDToken, a.IDToken}} {
			if !c.got.Equal(tokenSecret(c.want)) {
				t.Errorf("%s: the %s differs from the manifest's plaintext (len %d, want %d)", a.Label(), c.name, c.got.Len(), tokenSecret(c.want).Len())
			}
		}
	}
	if n == 0 {
		t.Error("no account read")
	}
}

// snapshot returns the stored token values of every row.
func (bt *baTable) snapshot(t *testing.T) map[[2]string][]byte {
	t.Helper()
	out := map[[2]string][]byte{}
	for _, a := range bt.f.Accounts {
		for _, col := range []string{"access_token", "refresh_token", "id_token"} {
			out[[2]string{a.ID, col}] = bt.raw(t, a.ID, col)
		}
	}
	return out
}

// encryptedRows returns the ids of the rows holding a token better-auth
// encrypted.
func encryptedRows(f *betterauthtest.Fixture) map[string]bool {
	rows := map[string]bool{}
	for _, e := range encryptedTokens(f) {
		rows[e[0]] = true
	}
	return rows
}

// wantBetterAuthFailures fails t unless failures name exactly the rows,
// each failing with ErrBetterAuthCiphertext and every one of targets, and
// hold no secret or token.
func wantBetterAuthFailures(t *testing.T, what string, f *betterauthtest.Fixture, failures []*accountvault.RowError, rows map[string]bool, targets ...error) {
	t.Helper()
	seen := map[string]bool{}
	for _, fe := range failures {
		if !rows[fe.ID] {
			t.Errorf("%s: row %s fails, it should not: %v", what, fe.ID, fe)
			continue
		}
		seen[fe.ID] = true
		var re *accountvault.RowError
		if !errors.As(fe, &re) || re.Column == "" || re.Column == "id_token" {
			t.Errorf("%s: failure %v does not name an access or refresh token column", what, fe)
		}
		for _, target := range append([]error{store.ErrBetterAuthCiphertext}, targets...) {
			if !errors.Is(fe, target) {
				t.Errorf("%s: row %s fails with %v, want it to match %v", what, fe.ID, fe, target)
			}
		}
		noSecretIn(t, what+" failure", fe.Error(), fixtureSecrets(f)...)
	}
	for id := range rows {
		if !seen[id] {
			t.Errorf("%s: no failure names row %s", what, id)
		}
	}
}

// fixtureSecrets returns every secret, token and stored token value of f.
func fixtureSecrets(f *betterauthtest.Fixture) []string {
	out := []string{f.Env.Secret}
	for _, p := range f.Phases {
		out = append(out, p.Secret)
		for _, e := range strings.Split(p.Secrets, ",") {
			if _, sec, ok := strings.Cut(e, ":"); ok {
				out = append(out, sec)
			}
		}
	}
	for _, a := range f.Accounts {
		for _, tok := range a.Tokens() {
			out = append(out, tok.Plaintext, tok.Stored)
		}
	}
	return out
}

// TestBetterAuthAdoptWithSecrets adopts the encrypted fixtures with their
// secrets: Check counts better-auth's values apart, a legacy-read store
// returns the tokens they hold, EncryptLegacy seals those tokens, and
// every token then reads back equal to what the provider sent.
func TestBetterAuthAdoptWithSecrets(t *testing.T) {
	eachFixtureKind(t, func(t *testing.T, kind string) {
		for _, variant := range []string{"single", "versioned"} {
			t.Run(variant, func(t *testing.T) {
				bt := adoptFixture(t, kind, variant)
				secrets := parseSecrets(t, bt.f.Env.Secrets, bt.f.Env.Secret)
				k := genKeyring(t)
				s := bt.store(t, k, store.WithBetterAuthSecrets(secrets))
				enc := encryptedTokens(bt.f)

				check, err := admin(s).Check(ctx, store.WalkOptions{})
				if err != nil {
					t.Fatal(err)
				}
				ba := check.Columns[envelope.AccessToken].BetterAuth + check.Columns[envelope.RefreshToken].BetterAuth
				if _, _, failed := check.Totals(); ba != len(enc) || failed != 0 || check.Columns[envelope.IDToken].BetterAuth != 0 {
					t.Fatalf("Check before sealing: %d better-auth values, %d failed; want %d and 0", ba, failed, len(enc))
				}

				// The read path during the transition.
				bt.wantTokens(t, bt.store(t, k, store.WithLegacyPlaintext(), store.WithBetterAuthSecrets(secrets)), nil)
				blind := bt.store(t, k, store.WithLegacyPlaintext())
				for id := range encryptedRows(bt.f) {
					for _, a := range bt.f.Accounts {
						if a.ID == id {
							_, err := blind.FindByProvider(ctx, a.ProviderID, a.AccountID)
							wantErr(t, "legacy-read without the secrets, "+a.Label(), err, store.ErrBetterAuthCiphertext, betterauth.ErrNoSecret)
						}
					}
				}

				rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{BatchSize: 3})
				if err != nil || rep.Failed != 0 || !rep.Finished || rep.BetterAuth != len(enc) {
					t.Fatalf("EncryptLegacy: %+v, %v; want %d better-auth values opened and the adoption finished", rep, err, len(enc))
				}
				for _, e := range enc {
					if !envelope.IsSealed(bt.raw(t, e[0], e[1])) {
						t.Errorf("row %s %s is not sealed", e[0], e[1])
					}
				}
				bt.wantTokens(t, s, nil)
				bt.wantTokens(t, bt.store(t, k), nil) // a store without the option: nothing of better-auth's is left
				check, err = admin(s).Check(ctx, store.WalkOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if sealed, legacy, failed := check.Totals(); legacy != 0 || failed != 0 || sealed < len(enc) {
					t.Fatalf("Check after sealing: %d sealed, %d legacy, %d failed", sealed, legacy, failed)
				}
			})
		}
	})
}

// TestBetterAuthWrongSecret: under a wrong secret, every row holding
// better-auth ciphertext fails, with its id, and keeps its stored values;
// the walk goes on and seals the other rows. Versioned secrets without the
// legacy one open the $ba$ values only.
func TestBetterAuthWrongSecret(t *testing.T) {
	eachFixtureKind(t, func(t *testing.T, kind string) {
		t.Run("wrong secret", func(t *testing.T) {
			bt := adoptFixture(t, kind, "single")
			wrong := parseSecrets(t, "", "another-deployment's-secret-0123456789")
			k := genKeyring(t)
			s := bt.store(t, k, store.WithBetterAuthSecrets(wrong))
			rows := encryptedRows(bt.f)
			before := bt.snapshot(t)

			check, err := admin(s).Check(ctx, store.WalkOptions{})
			if err != nil {
				t.Fatal(err)
			}
			nf := check.Columns[envelope.AccessToken].BetterAuthFailed + check.Columns[envelope.RefreshToken].BetterAuthFailed
			if _, _, failed := check.Totals(); nf != len(encryptedTokens(bt.f)) || failed != nf {
				t.Fatalf("Check: %d better-auth values not opened, %d failed; want %d", nf, failed, len(encryptedTokens(bt.f)))
			}

			rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{BatchSize: 2})
			if err != nil || rep.Failed != len(rows) || rep.Finished || rep.BetterAuth != 0 {
				t.Fatalf("EncryptLegacy: %+v, %v; want the %d rows holding ciphertext failing", rep, err, len(rows))
			}
			wantBetterAuthFailures(t, "EncryptLegacy", bt.f, rep.Failures, rows, betterauth.ErrBetterAuthDecrypt)
			after := bt.snapshot(t)
			for key, v := range before {
				if rows[key[0]] && !bytes.Equal(after[key], v) {
					t.Errorf("row %s %s changed", key[0], key[1])
				}
			}
			if rep.Seen != len(bt.f.Accounts) {
				t.Errorf("EncryptLegacy saw %d rows, want all %d", rep.Seen, len(bt.f.Accounts))
			}
			// The rows without ciphertext (credential rows) were handled
			// and read back.
			bt.wantTokens(t, s, rows)
			if st := func() string {
				v, err := bt.backend.(accountvault.Metadata).Meta(ctx, "legacy")
				if err != nil {
					t.Fatal(err)
				}
				return string(v)
			}(); st != "open" {
				t.Errorf("adoption marker %q, want it still open", st)
			}
		})
		t.Run("versioned without the legacy secret", func(t *testing.T) {
			bt := adoptFixture(t, kind, "versioned")
			s := bt.store(t, genKeyring(t), store.WithBetterAuthSecrets(parseSecrets(t, bt.f.Env.Secrets, "")))
			bare := map[string]bool{}
			for _, a := range bt.f.Accounts {
				for _, tok := range a.Tokens() {
					if tok.Form == "hex" {
						bare[a.ID] = true
					}
				}
			}
			if len(bare) == 0 || len(bare) == len(encryptedRows(bt.f)) {
				t.Fatalf("the versioned fixture has %d rows with bare values, want some but not all", len(bare))
			}
			rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{})
			if err != nil || rep.Failed != len(bare) || rep.Finished {
				t.Fatalf("EncryptLegacy: %+v, %v; want the %d rows with bare values failing", rep, err, len(bare))
			}
			wantBetterAuthFailures(t, "EncryptLegacy", bt.f, rep.Failures, bare, betterauth.ErrNoSecret)
			bt.wantTokens(t, s, bare)
		})
	})
}

// TestBetterAuthUndeclared: without a better-auth option, values that have
// better-auth's shape are refused with a message naming both options.
func TestBetterAuthUndeclared(t *testing.T) {
	eachFixtureKind(t, func(t *testing.T, kind string) {
		bt := adoptFixture(t, kind, "versioned")
		s := bt.store(t, genKeyring(t))
		rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rows := encryptedRows(bt.f)
		wantBetterAuthFailures(t, "EncryptLegacy", bt.f, rep.Failures, rows, betterauth.ErrNoSecret)
		for _, fe := range rep.Failures {
			msg := fe.Error()
			if !strings.Contains(msg, "WithBetterAuthSecrets") || !strings.Contains(msg, "BETTER_AUTH_SECRET") {
				t.Errorf("the failure does not name the secrets option: %s", msg)
			}
			if v := bt.raw(t, fe.ID, fe.Column); !bytes.HasPrefix(v, []byte("$ba$")) && !strings.Contains(msg, "--better-auth-plaintext") {
				t.Errorf("the failure of a bare value does not name the plaintext option: %s", msg)
			}
		}
		check, err := admin(s).Check(ctx, store.WalkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		plain := 0 // the ID tokens
		for _, a := range bt.f.Accounts {
			for _, tok := range a.Tokens() {
				if tok.Form == "plaintext" {
					plain++
				}
			}
		}
		if _, legacy, failed := check.Totals(); failed != len(encryptedTokens(bt.f)) || legacy != plain {
			t.Fatalf("Check: %d legacy, %d failed; want every better-auth value failing and the %d plaintext values as legacy", legacy, failed, plain)
		}
	})
}

// TestBetterAuthPlaintextFixture adopts the fixture better-auth wrote with
// encryptOAuthTokens off. erin's tokens are hex of 128 and 96 digits:
// plaintext with the shape of ciphertext. Undeclared, her row is refused;
// declared never encrypted, every token is sealed as it is.
func TestBetterAuthPlaintextFixture(t *testing.T) {
	eachFixtureKind(t, func(t *testing.T, kind string) {
		bt := adoptFixture(t, kind, "plain")
		k := genKeyring(t)
		hexRows := map[string]bool{}
		for _, a := range bt.f.Accounts {
			for _, tok := range a.Tokens() {
				if betterauth.LooksEncrypted([]byte(tok.Stored)) {
					hexRows[a.ID] = true
				}
			}
		}
		if len(hexRows) == 0 {
			t.Fatal("the plain fixture holds no hex token that has the shape of ciphertext")
		}
		rep, err := admin(bt.store(t, k)).EncryptLegacy(ctx, store.WalkOptions{})
		if err != nil || rep.Finished {
			t.Fatalf("EncryptLegacy, undeclared: %+v, %v", rep, err)
		}
		wantBetterAuthFailures(t, "EncryptLegacy, undeclared", bt.f, rep.Failures, hexRows, betterauth.ErrNoSecret)
		for _, fe := range rep.Failures {
			if msg := fe.Error(); !strings.Contains(msg, "WithBetterAuthPlaintext") || !strings.Contains(msg, "WithBetterAuthSecrets") {
				t.Errorf("the failure does not name both options: %s", msg)
			}
		}

		s := bt.store(t, k, store.WithBetterAuthPlaintext())
		rep, err = admin(s).EncryptLegacy(ctx, store.WalkOptions{})
		if err != nil || rep.Failed != 0 || !rep.Finished || rep.BetterAuth != 0 {
			t.Fatalf("EncryptLegacy, declared plaintext: %+v, %v", rep, err)
		}
		bt.wantTokens(t, s, nil)
	})
}

// TestBetterAuthPlantedEnvelope: a "$ba$" value in an otherwise plaintext
// table fails its row under WithBetterAuthPlaintext, and under secrets it
// does not open with; so does one in an ID token, which better-auth never
// encrypts. Nothing of those rows is sealed.
func TestBetterAuthPlantedEnvelope(t *testing.T) {
	// A real envelope, of another fixture, under a version the plain
	// fixture's deployment never had.
	var planted string
	for _, a := range betterauthtest.Load(t).Fixture(t, "sqlite-versioned").Accounts {
		if a.AccessToken != nil && a.AccessToken.Form == "v2" {
			planted = a.AccessToken.Stored
		}
	}
	eachFixtureKind(t, func(t *testing.T, kind string) {
		for _, c := range []struct {
			name string
			opt  func(t *testing.T, f *betterauthtest.Fixture) store.Option
			// hexFails: the plaintext hex tokens that have the shape of
			// ciphertext (erin's) fail too, as they do not open.
			hexFails bool
		}{
			{"declared plaintext", func(*testing.T, *betterauthtest.Fixture) store.Option { return store.WithBetterAuthPlaintext() }, false},
			{"with a secret", func(t *testing.T, f *betterauthtest.Fixture) store.Option {
				return store.WithBetterAuthSecrets(parseSecrets(t, "1:some-secret-of-version-1", "some-legacy-secret"))
			}, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				bt := adoptFixture(t, kind, "plain")
				var victim, idVictim *betterauthtest.Account
				for i := range bt.f.Accounts {
					a := &bt.f.Accounts[i]
					switch {
					case a.AccessToken != nil && a.IDToken != nil && victim == nil:
						victim = a
					case a.IDToken != nil && idVictim == nil:
						idVictim = a
					}
				}
				if victim == nil || idVictim == nil {
					t.Fatal("the plain fixture lacks rows with ID tokens")
				}
				bt.set(t, victim.ID, "access_token", []byte(planted))
				bt.set(t, idVictim.ID, "id_token", []byte("$ba$1$"+strings.Repeat("ab", 60)))
				rows := map[string]bool{victim.ID: true, idVictim.ID: true}
				if c.hexFails {
					for _, a := range bt.f.Accounts {
						if a.AccessToken != nil && betterauth.LooksEncrypted([]byte(a.AccessToken.Stored)) {
							rows[a.ID] = true
						}
					}
				}
				before := bt.snapshot(t)
				k := genKeyring(t)
				s := bt.store(t, k, c.opt(t, bt.f))
				rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{})
				if err != nil || rep.Failed != len(rows) || rep.Finished {
					t.Fatalf("EncryptLegacy: %+v, %v; want the %d rows with planted (or hex) values failing", rep, err, len(rows))
				}
				for _, fe := range rep.Failures {
					if !rows[fe.ID] || !errors.Is(fe, store.ErrBetterAuthCiphertext) {
						t.Errorf("failure %v, want the planted rows failing with ErrBetterAuthCiphertext", fe)
					}
					if fe.ID == idVictim.ID && fe.Column != "id_token" {
						t.Errorf("failure %v does not name the ID token", fe)
					}
				}
				after := bt.snapshot(t)
				for key, v := range before {
					if rows[key[0]] && !bytes.Equal(after[key], v) {
						t.Errorf("row %s %s changed", key[0], key[1])
					}
				}
				_, err = bt.store(t, k, store.WithLegacyPlaintext(), c.opt(t, bt.f)).FindByProvider(ctx, victim.ProviderID, victim.AccountID)
				wantErr(t, "legacy-read of the planted value", err, store.ErrBetterAuthCiphertext)
				bt.wantTokens(t, s, rows)
			})
		}
	})
}

// TestBetterAuthOptionsConflict: the two options contradict each other.
func TestBetterAuthOptionsConflict(t *testing.T) {
	env := avtest.New(t, "sqlite")
	_, err := store.New(env.Backend, kekOf(t, genKeyring(t)),
		store.WithBetterAuthPlaintext(), store.WithBetterAuthSecrets(parseSecrets(t, "", "a-secret")))
	if err == nil {
		t.Fatal("store.New accepted both WithBetterAuthPlaintext and WithBetterAuthSecrets")
	}
	if _, err := store.New(env.Backend, kekOf(t, genKeyring(t)), store.WithBetterAuthSecrets(nil)); err == nil {
		t.Fatal("store.New accepted WithBetterAuthSecrets(nil)")
	}
}
