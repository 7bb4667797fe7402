package store_test

// The leak test drives every failure path of the store (the tamper matrix,
// invalid input, a failing database, keyring errors, the password paths)
// with tokens, passwords and ids that carry a unique marker, and with
// password hashes whose exact strings are known, and captures every error
// (its text, %+v and %#v, and those of everything it wraps) and every log
// record (a JSON slog handler at debug level). The marker, its hex and
// base64 forms, and the hash strings must appear in none of them.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/postgres"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/internal/faultproxy"
	"github.com/accountvault/accountvault/internal/pgtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// needle is a byte string that must not appear in any error or log, named
// by kind (the name is printed, never the needle).
type needle struct {
	kind string
	b    []byte
}

// leakText is one captured string and where it came from.
type leakText struct {
	label string
	text  string
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// leakScan captures errors and log records and checks them for needles.
type leakScan struct {
	marker  string
	logs    syncBuffer
	log     *slog.Logger
	mu      sync.Mutex
	texts   []leakText
	errs    int // errors captured
	needles []needle
}

func newLeakScan(t *testing.T) *leakScan {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	l := &leakScan{marker: "LEAKMARK" + hex.EncodeToString(r[:])}
	l.log = slog.New(slog.NewJSONHandler(&l.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l.secret("marker", l.marker)
	return l
}

// secret adds s, and its hex and base64 forms at every alignment, as
// needles. Base64 of a string containing s contains, whatever precedes s,
// the characters that encode s's bytes alone: those are the needle.
func (l *leakScan) secret(kind, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.needles = append(l.needles,
		needle{kind, []byte(s)},
		needle{kind + " (hex)", []byte(hex.EncodeToString([]byte(s)))},
		needle{kind + " (HEX)", []byte(strings.ToUpper(hex.EncodeToString([]byte(s))))},
	)
	for a := range 3 {
		full := strings.Repeat("\x00", a) + s
		from := (8*a + 5) / 6 // the first character holding none of the prefix's bits
		to := 8 * len(full) / 6
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			e := enc.EncodeToString([]byte(full))
			l.needles = append(l.needles, needle{fmt.Sprintf("%s (base64, offset %d)", kind, a), []byte(e[from:to])})
		}
	}
}

// hash adds a stored password hash as needles: the whole string and its
// salt and hash fields.
func (l *leakScan) hash(kind, h string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.needles = append(l.needles, needle{kind, []byte(h)})
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		f := strings.Split(h, "$") // "", argon2id, v=19, m=…, salt, hash
		if len(f) == 6 {
			l.needles = append(l.needles, needle{kind + " salt", []byte(f[4])}, needle{kind + " tag", []byte(f[5])})
		}
	case strings.HasPrefix(h, "$2") && len(h) == 60:
		l.needles = append(l.needles, needle{kind + " salt and hash", []byte(h[7:])})
	}
}

func (l *leakScan) text(label, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.texts = append(l.texts, leakText{label, s})
}

// err captures err (nil is ignored) and returns it.
func (l *leakScan) err(label string, err error) error {
	if err == nil {
		return nil
	}
	l.mu.Lock()
	l.errs++
	l.mu.Unlock()
	l.text(label, err.Error())
	l.text(label+" (%+v)", fmt.Sprintf("%+v", err))
	l.text(label+" (%#v)", fmt.Sprintf("%#v", err))
	var walk func(e error, depth int)
	walk = func(e error, depth int) {
		if e == nil || depth > 20 {
			return
		}
		l.text(label+" (wrapped)", e.Error())
		l.text(label+" (wrapped, %#v)", fmt.Sprintf("%#v", e))
		switch x := e.(type) {
		case interface{ Unwrap() error }:
			walk(x.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, u := range x.Unwrap() {
				walk(u, depth+1)
			}
		}
	}
	walk(err, 0)
	return err
}

// must captures err and fails t unless it is an error matching every target.
func (l *leakScan) must(t *testing.T, label string, err error, targets ...error) {
	t.Helper()
	l.err(label, err)
	if err == nil {
		t.Fatalf("%s: no error", label)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("%s: error %q does not match %v", label, err, target)
		}
	}
}

// hits returns the kinds of the needles found in s.
func (l *leakScan) hits(s []byte) []string {
	var out []string
	for _, n := range l.needles {
		if len(n.b) > 0 && bytes.Contains(s, n.b) {
			out = append(out, n.kind)
		}
	}
	return out
}

// check fails t for every captured string or log record holding a needle,
// naming the place and the kind of secret (never the secret).
func (l *leakScan) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	leaks := 0
	for _, tx := range l.texts {
		if h := l.hits([]byte(tx.text)); len(h) > 0 {
			leaks++
			t.Errorf("LEAK in %s: %s", tx.label, strings.Join(h, ", "))
		}
	}
	for i, line := range bytes.Split(l.logs.Bytes(), []byte("\n")) {
		if h := l.hits(line); len(h) > 0 {
			leaks++
			var rec struct{ Msg string }
			json.Unmarshal(line, &rec) // the message only, for the report
			t.Errorf("LEAK in log record %d (%q): %s", i, rec.Msg, strings.Join(h, ", "))
		}
	}
	t.Logf("scanned %d strings from %d errors and %d bytes of logs for %d needles: %d leaks",
		len(l.texts), l.errs, len(l.logs.Bytes()), len(l.needles), leaks)
}

// markerAccount returns a linked account whose tokens carry the marker.
func (l *leakScan) markerAccount(id, user, provider, acct string) accountvault.Account {
	a := account(id, user, provider, acct)
	a.AccessToken = accountvault.NewSecret("ya29." + l.marker + "-access-" + id)
	a.RefreshToken = accountvault.NewSecret("1//" + l.marker + "-refresh-" + id)
	a.IDToken = accountvault.NewSecret("eyJ" + l.marker + "-id-" + id)
	return a
}

func TestLeakScanSeesSecrets(t *testing.T) {
	// The scanner itself must catch every form it claims to.
	l := newLeakScan(t)
	h, err := testHasher(t).Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	l.hash("argon2id hash", h)
	bc, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	l.hash("bcrypt hash", string(bc))
	tok := "ya29." + l.marker + "-access"
	for i, s := range []string{
		"error: token " + tok + " refused",
		hex.EncodeToString([]byte(tok)),
		strings.ToUpper(hex.EncodeToString([]byte("x" + tok))),
		base64.StdEncoding.EncodeToString([]byte(tok)),
		base64.StdEncoding.EncodeToString([]byte("a" + tok)),
		base64.RawURLEncoding.EncodeToString([]byte("ab" + tok + "cd")),
		"stored hash " + h,
		"salt " + strings.Split(h, "$")[4],
		"tag " + strings.Split(h, "$")[5],
		"bcrypt " + string(bc)[7:],
	} {
		if len(l.hits([]byte(s))) == 0 {
			t.Errorf("sample %d: the scanner misses a secret", i)
		}
	}
	if h := l.hits([]byte(`{"msg":"accountvault: sealed value failed to open","row_id":"a"}`)); len(h) != 0 {
		t.Errorf("the scanner flags a clean log record: %v", h)
	}
}

// TestNoSecretInErrorsOrLogs: see the top of this file.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		l := newLeakScan(t)
		k := genKeyring(t)
		s := newStore(t, env, k, store.WithLogger(l.log))

		t.Run("tamper", func(t *testing.T) { leakTamper(t, l, env, k, s) })
		t.Run("invalid input", func(t *testing.T) { leakInvalid(t, l, env, s) })
		t.Run("failing database", func(t *testing.T) { leakFailingDB(t, l, env, k) })
		t.Run("keyring errors", func(t *testing.T) { leakKeyring(t, l, env, k, s) })
		t.Run("passwords", func(t *testing.T) { leakPasswords(t, l, env, s) })
		if env.Name == "postgres" {
			t.Run("network cuts", func(t *testing.T) { leakNetwork(t, l) })
		}

		// The scan must see what it scans: errors naming rows, and the
		// audit events of every path above.
		logs := string(l.logs.Bytes())
		for _, want := range []string{
			`"row_id":"a"`,
			"accountvault: sealed value failed to open",
			"accountvault: rewrap failed for a row",
			"accountvault: check finished",
			"accountvault: encrypt-legacy cannot seal a row",
			"accountvault: keyring reload failed",
			"accountvault: keyring loaded",
			"accountvault: password hash upgraded",
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("the logs lack %q: the scan does not see that path", want)
			}
		}
		if env.Name == "postgres" && !strings.Contains(logs, "accountvault: password hash upgrade failed") {
			t.Error(`the logs lack "password hash upgrade failed": the scan does not see that path`)
		}
		sawRow := false
		for _, tx := range l.texts {
			sawRow = sawRow || strings.Contains(tx.text, `row "a"`)
		}
		if !sawRow || l.errs < 100 {
			t.Errorf("the scan saw %d errors (naming row a: %v): too few to mean anything", l.errs, sawRow)
		}
		l.check(t)
	})
}

// leakTamper runs the tamper matrix of TestTamper over rows whose tokens
// carry the marker, through every reading path, Check, KeyUsage, Rewrap,
// CompareAndSwap and EncryptLegacy.
func leakTamper(t *testing.T, l *leakScan, env *avtest.Env, k *keyring.Keyring, s *store.Store) {
	// A replica whose primary is a newer key: to it the rows are on an
	// old key, so its Rewrap unwraps them.
	k2 := k.Clone()
	if _, err := k2.Rotate(); err != nil {
		t.Fatal(err)
	}
	s2 := newStore(t, env, k2, store.WithLogger(l.log))
	// A legacy-read store: on this table, which was never adopted, it is
	// refused at first use (ErrLegacyClosed).
	legacy := newStore(t, env, k, store.WithLogger(l.log), store.WithLegacyPlaintext())
	rows := []accountvault.Account{
		l.markerAccount("a", "alice", "github", "gh-a"),
		l.markerAccount("b", "bob", "github", "gh-b"),
		l.markerAccount("a2", "alice", "google", "go-a"),
	}
	fresh := func(t *testing.T) {
		env.Exec(t, `DELETE FROM {t}`)
		for _, a := range rows {
			mustUpsert(t, s, a)
		}
	}
	flip := func(t *testing.T, off int) {
		v := env.Raw(t, "a", "access_token")
		if off < 0 {
			off += len(v)
		}
		v[off] ^= 0x01
		env.SetRaw(t, "a", "access_token", v)
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T)
		want   error
	}{
		{"swap between rows", func(t *testing.T) { env.SetRaw(t, "a", "access_token", env.Raw(t, "b", "access_token")) }, accountvault.ErrDecrypt},
		{"swap between columns", func(t *testing.T) { env.SetRaw(t, "a", "access_token", env.Raw(t, "a", "refresh_token")) }, accountvault.ErrDecrypt},
		{"swap between users", func(t *testing.T) { env.SetRaw(t, "a", "id_token", env.Raw(t, "b", "id_token")) }, accountvault.ErrDecrypt},
		{"swap between rows of one user", func(t *testing.T) { env.SetRaw(t, "a", "refresh_token", env.Raw(t, "a2", "refresh_token")) }, accountvault.ErrDecrypt},
		{"re-point user_id", func(t *testing.T) { env.SetRaw(t, "a", "user_id", "mallory") }, accountvault.ErrDecrypt},
		{"flip magic first byte", func(t *testing.T) { flip(t, 0) }, accountvault.ErrLegacyPlaintext},
		{"flip magic second byte", func(t *testing.T) { flip(t, 1) }, accountvault.ErrDecrypt},
		{"flip version", func(t *testing.T) { flip(t, 3) }, accountvault.ErrDecrypt},
		{"flip key id", func(t *testing.T) { flip(t, 7) }, accountvault.ErrUnknownKey},
		{"flip wrapped length", func(t *testing.T) { flip(t, 8) }, accountvault.ErrDecrypt},
		{"flip wrapped key", func(t *testing.T) { flip(t, 30) }, accountvault.ErrDecrypt},
		{"flip nonce", func(t *testing.T) { flip(t, 70) }, accountvault.ErrDecrypt},
		{"flip ciphertext", func(t *testing.T) { flip(t, 82) }, accountvault.ErrDecrypt},
		{"flip tag", func(t *testing.T) { flip(t, -1) }, accountvault.ErrDecrypt},
		{"truncate", func(t *testing.T) {
			v := env.Raw(t, "a", "access_token")
			env.SetRaw(t, "a", "access_token", v[:len(v)-5])
		}, accountvault.ErrDecrypt},
		{"remove prefix", func(t *testing.T) {
			v := env.Raw(t, "a", "access_token")[4:]
			for len(v) > 0 && v[0] == 0xA7 { // a key id starting with the magic byte
				v = v[1:]
			}
			env.SetRaw(t, "a", "access_token", v)
		}, accountvault.ErrLegacyPlaintext},
		{"plaintext written", func(t *testing.T) {
			env.SetRaw(t, "a", "access_token", []byte("ya29.plain-"+l.marker))
		}, accountvault.ErrLegacyPlaintext},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fresh(t)
			c.tamper(t)
			label := "tamper " + c.name + ": "
			_, err := s.FindByProvider(ctx, "github", "gh-a")
			l.must(t, label+"FindByProvider", err, c.want)
			_, err = s.FindForUser(ctx, "alice")
			if c.name != "re-point user_id" { // then alice has one row left, which opens
				l.must(t, label+"FindForUser", err, c.want)
			}
			l.err(label+"FindForUser", err)
			_, err = s.List(ctx, "", 10)
			l.must(t, label+"List", err, c.want)
			l.err(label+"CompareAndSwap", s.CompareAndSwap(ctx, rows[0], l.markerAccount("a", "alice", "github", "gh-a")))
			check, err := admin(s).Check(ctx, store.WalkOptions{})
			l.err(label+"Check", err)
			l.text(label+"Check report", fmt.Sprintf("%+v", check))
			for i, f := range check.Failures {
				l.err(fmt.Sprintf("%sCheck failure %d", label, i), f.Err)
			}
			usage, err := admin(s).KeyUsage(ctx, store.WalkOptions{})
			l.err(label+"KeyUsage", err)
			l.text(label+"KeyUsage", fmt.Sprintf("%+v", usage))
			rw, err := admin(s2).Rewrap(ctx, store.WalkOptions{BatchSize: 2})
			l.err(label+"Rewrap", err)
			l.text(label+"Rewrap report", fmt.Sprintf("%+v", rw))
			for i, f := range rw.Failures {
				l.err(fmt.Sprintf("%sRewrap failure %d", label, i), f.Err)
			}
			_, err = legacy.FindByProvider(ctx, "github", "gh-a")
			l.err(label+"legacy-mode FindByProvider", err)
			el, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{})
			l.err(label+"EncryptLegacy", err)
			l.text(label+"EncryptLegacy report", fmt.Sprintf("%+v", el))
			for i, f := range el.Failures {
				l.err(fmt.Sprintf("%sEncryptLegacy failure %d", label, i), f.Err)
			}
		})
	}
	t.Run("legacy row that cannot be sealed", func(t *testing.T) {
		// An adopted row: plaintext token, and a plaintext password
		// where a hash belongs. EncryptLegacy must refuse it, and say so
		// without either value.
		aenv := avtest.NewAdopted(t, env.Name, avtest.Legacy{ID: "b", UserID: "bob", ProviderID: "github", AccountID: "gh-b",
			AccessToken: "ya29.adopted-" + l.marker, Password: "pw-" + l.marker})
		s := newStore(t, aenv, k, store.WithLogger(l.log))
		rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{})
		l.err("EncryptLegacy of an unsealable row", err)
		if err != nil || rep.Failed != 1 {
			t.Fatalf("EncryptLegacy: %+v, %v; want 1 failing row", rep.Progress, err)
		}
		l.text("EncryptLegacy report", fmt.Sprintf("%+v", rep))
		for i, f := range rep.Failures {
			l.err(fmt.Sprintf("EncryptLegacy failure %d", i), f.Err)
		}
		_, err = s.FindByProvider(ctx, "github", "gh-b")
		l.must(t, "FindByProvider of the adopted row", err, accountvault.ErrLegacyPlaintext)
	})
	env.Exec(t, `DELETE FROM {t}`)
	// s2's newer keyring raised the table's recorded generation; the
	// phases after this one make new stores over k, an older generation.
	if _, err := admin(s).OverrideKeyringGeneration(ctx); err != nil {
		t.Fatal(err)
	}
}

// leakInvalid writes and looks up invalid values carrying the marker: the
// store must refuse them by field name, never by value.
func leakInvalid(t *testing.T, l *leakScan, env *avtest.Env, s *store.Store) {
	m := l.marker
	base := func() accountvault.Account { return l.markerAccount("inv", "u-inv", "github", "inv") }
	big := strings.Repeat(m, envelope.MaxPlaintext/len(m)+1)
	huge := strings.Repeat(m, accountvault.MaxTokenSize/len(m)+1)
	hash, err := testHasher(t).Hash(ctx, "irrelevant")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(a *accountvault.Account)
		want error
	}{
		{"access token over the store's limit", func(a *accountvault.Account) { a.AccessToken = accountvault.NewSecret(big) }, accountvault.ErrInvalidAccount},
		{"refresh token over MaxTokenSize", func(a *accountvault.Account) { a.RefreshToken = accountvault.NewSecret(huge) }, accountvault.ErrInvalidAccount},
		{"id token over MaxTokenSize", func(a *accountvault.Account) { a.IDToken = accountvault.NewSecret(huge) }, accountvault.ErrInvalidAccount},
		{"NUL in ID", func(a *accountvault.Account) { a.ID = "id-" + m + "\x00" }, accountvault.ErrInvalidAccount},
		{"NUL in UserID", func(a *accountvault.Account) { a.UserID = "\x00" + m }, accountvault.ErrInvalidAccount},
		{"NUL in ProviderID", func(a *accountvault.Account) { a.ProviderID = m + "\x00" }, accountvault.ErrInvalidAccount},
		{"NUL in AccountID", func(a *accountvault.Account) { a.AccountID = m + "\x00x" }, accountvault.ErrInvalidAccount},
		{"invalid UTF-8 in AccountID", func(a *accountvault.Account) { a.AccountID = m + "\xff" }, accountvault.ErrInvalidAccount},
		{"oversize AccountID", func(a *accountvault.Account) { a.AccountID = strings.Repeat(m, 100) }, accountvault.ErrInvalidAccount},
		{"oversize Scope", func(a *accountvault.Account) { a.Scope = strings.Repeat(m, 300) }, accountvault.ErrInvalidAccount},
		{"invalid UTF-8 in Scope", func(a *accountvault.Account) { a.Scope = "openid \xc3" + m }, accountvault.ErrInvalidAccount},
		{"empty ID", func(a *accountvault.Account) { a.ID = "" }, accountvault.ErrInvalidAccount},
		{"empty UserID", func(a *accountvault.Account) { a.UserID = "" }, accountvault.ErrInvalidAccount},
		{"empty ProviderID", func(a *accountvault.Account) { a.ProviderID = "" }, accountvault.ErrInvalidAccount},
		{"empty AccountID", func(a *accountvault.Account) { a.AccountID = "" }, accountvault.ErrInvalidAccount},
		{"plaintext password", func(a *accountvault.Account) { a.Password = accountvault.NewSecret("hunter2-" + m) }, accountvault.ErrPasswordNotHashed},
		{"password that looks like a hash", func(a *accountvault.Account) {
			a.Password = accountvault.NewSecret("$argon2id$v=19$m=65536,t=3,p=4$-" + m + "$" + m)
		}, accountvault.ErrPasswordNotHashed},
		{"bcrypt-looking password", func(a *accountvault.Account) {
			a.Password = accountvault.NewSecret("$2b$10$" + (m + m + m)[:53])
		}, accountvault.ErrPasswordNotHashed},
		{"oversize password", func(a *accountvault.Account) { a.Password = accountvault.NewSecret(strings.Repeat(m, 50)) }, accountvault.ErrInvalidAccount},
		{"NUL in password", func(a *accountvault.Account) { a.Password = accountvault.NewSecret(hash + "\x00" + m) }, accountvault.ErrInvalidAccount},
	}
	for _, c := range cases {
		a := base()
		c.edit(&a)
		got, err := s.Upsert(ctx, a)
		l.must(t, "Upsert with "+c.name, err, c.want)
		if !isZero(got) {
			t.Fatalf("Upsert with %s returned an error and an Account", c.name)
		}
		// The same through CompareAndSwap, from a valid row.
		old := mustUpsert(t, s, base())
		next := old
		c.edit(&next)
		if next.ID == old.ID && next.UserID == old.UserID && next.ProviderID == old.ProviderID && next.AccountID == old.AccountID {
			l.must(t, "CompareAndSwap with "+c.name, s.CompareAndSwap(ctx, old, next), c.want)
		} else {
			l.must(t, "CompareAndSwap with "+c.name, s.CompareAndSwap(ctx, old, next), accountvault.ErrInvalidAccount)
		}
	}
	if n := env.Count(t); n != 1 {
		t.Fatalf("%d rows after invalid writes, want the one valid row", n)
	}
	// Lookups by values no row can hold.
	_, err = s.FindByProvider(ctx, "github", m+"\x00")
	l.must(t, "FindByProvider by a NUL id", err, accountvault.ErrNotFound)
	_, err = s.FindByProvider(ctx, "github", "absent-"+m)
	l.must(t, "FindByProvider of a missing row", err, accountvault.ErrNotFound)
	l.must(t, "Unlink of a missing row", s.Unlink(ctx, "github", "absent-"+m), accountvault.ErrNotFound)
	l.must(t, "Unlink by a NUL id", s.Unlink(ctx, m+"\x00", "x"), accountvault.ErrNotFound)
	_, err = s.List(ctx, m+"\x00", 10)
	l.must(t, "List after a NUL cursor", err)
	_, err = s.List(ctx, "\xff"+m, 10)
	l.must(t, "List after an invalid UTF-8 cursor", err)
	_, err = s.List(ctx, "", 0)
	l.must(t, "List with limit 0", err)
	rows, err := s.FindForUser(ctx, m+"\x00")
	l.err("FindForUser by a NUL id", err)
	if len(rows) != 0 {
		t.Fatalf("FindForUser by a NUL id found %d rows", len(rows))
	}
	// Password inputs.
	l.must(t, "SetPassword for an empty user", s.SetPassword(ctx, "", "pw-"+m), accountvault.ErrInvalidAccount)
	l.must(t, "SetPassword with an empty password", s.SetPassword(ctx, "u-inv", ""))
	l.must(t, "SetPassword with a password over the limit", s.SetPassword(ctx, "u-inv", strings.Repeat(m, 200)))
	l.must(t, "SetPassword for a NUL user", s.SetPassword(ctx, m+"\x00", "pw-"+m))
	_, err = s.VerifyPassword(ctx, "u-inv", strings.Repeat(m, 200))
	l.must(t, "VerifyPassword with a password over the limit", err)
	_, err = s.VerifyPassword(ctx, "u-inv", "")
	l.must(t, "VerifyPassword with an empty password", err)
	ok, err := s.VerifyPassword(ctx, m+"\x00", "pw-"+m)
	l.err("VerifyPassword for a NUL user", err)
	if ok {
		t.Fatal("VerifyPassword for a NUL user succeeded")
	}
	env.Exec(t, `DELETE FROM {t}`)
}

// leakFailingDB runs every operation against a database that fails: a
// closed backend, a cancelled context, and a primary-key collision.
func leakFailingDB(t *testing.T, l *leakScan, env *avtest.Env, k *keyring.Keyring) {
	s := newStore(t, env, k, store.WithLogger(l.log))
	mustUpsert(t, s, l.markerAccount("a", "alice", "github", "gh-a"))
	if err := s.SetPassword(ctx, "alice", "pw-"+l.marker); err != nil {
		t.Fatal(err)
	}
	l.hash("argon2id hash (failing db)", rawPassword(t, env, "alice"))

	// A closed backend.
	var closed accountvault.Backend
	switch env.Name {
	case "sqlite":
		b, err := sqlite.Open(env.DBFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		closed = b
	case "postgres":
		b, err := postgres.Open(ctx, pgtest.URL(), postgres.WithTable(env.Table))
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		closed = b
	}
	cs := newStore(t, &avtest.Env{Backend: closed}, k, store.WithLogger(l.log))
	allOps(t, l, "closed backend", cs, ctx, true)

	// A cancelled context, on a store that has not verified its keyring
	// yet and on one that has.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	allOps(t, l, "cancelled context (fresh store)", newStore(t, env, k, store.WithLogger(l.log)), cctx, true)
	allOps(t, l, "cancelled context", s, cctx, true)

	// A write the database refuses: another row's id under a new
	// (provider, account) pair violates the primary key.
	_, err := s.Upsert(ctx, l.markerAccount("a", "alice", "gitlab", "gl-a"))
	l.must(t, "Upsert colliding on the primary key", err)
	env.Exec(t, `DELETE FROM {t}`)
}

// allOps calls every operation of s with c and captures the errors. If
// mustFail, each must fail.
func allOps(t *testing.T, l *leakScan, label string, s *store.Store, c context.Context, mustFail bool) {
	t.Helper()
	m := l.marker
	check := func(op string, err error) {
		t.Helper()
		l.err(label+": "+op, err)
		if mustFail && err == nil {
			t.Fatalf("%s: %s succeeded", label, op)
		}
	}
	_, err := s.Upsert(c, l.markerAccount("a", "alice", "github", "gh-a"))
	check("Upsert", err)
	_, err = s.FindByProvider(c, "github", "gh-a")
	check("FindByProvider", err)
	_, err = s.FindForUser(c, "alice")
	check("FindForUser", err)
	_, err = s.List(c, "", 10)
	check("List", err)
	check("CompareAndSwap", s.CompareAndSwap(c, l.markerAccount("a", "alice", "github", "gh-a"), l.markerAccount("a", "alice", "github", "gh-a")))
	check("Unlink", s.Unlink(c, "github", "absent"))
	check("SetPassword", s.SetPassword(c, "alice", "new-pw-"+m))
	_, err = s.VerifyPassword(c, "alice", "pw-"+m)
	check("VerifyPassword (right)", err)
	_, err = s.VerifyPassword(c, "alice", "wrong-"+m)
	check("VerifyPassword (wrong)", err)
	_, err = s.VerifyPassword(c, "nobody", "pw-"+m)
	check("VerifyPassword (unknown user)", err)
	_, err = s.DeleteUser(c, "absent") // user ids are logged: no marker
	check("DeleteUser", err)
	a := admin(s)
	rw, err := a.Rewrap(c, store.WalkOptions{})
	check("Rewrap", err)
	l.text(label+": Rewrap report", fmt.Sprintf("%+v", rw))
	ch, err := a.Check(c, store.WalkOptions{})
	check("Check", err)
	l.text(label+": Check report", fmt.Sprintf("%+v", ch))
	el, err := a.EncryptLegacy(c, store.WalkOptions{})
	check("EncryptLegacy", err)
	l.text(label+": EncryptLegacy report", fmt.Sprintf("%+v", el))
	_, err = a.KeyUsage(c, store.WalkOptions{})
	check("KeyUsage", err)
	_, _, err = a.CheckKeys(c, store.WalkOptions{})
	check("CheckKeys", err)
	check("CheckRetire", a.CheckRetire(c, a.PrimaryKeyID(), store.WalkOptions{}))
	check("CheckKeyring", a.CheckKeyring(c))
}

// rawPassword returns the password hash stored in user's credential row.
func rawPassword(t *testing.T, env *avtest.Env, user string) string {
	t.Helper()
	raw, err := env.Backend.FindByProvider(ctx, accountvault.ProviderCredential, user)
	if err != nil {
		t.Fatalf("reading %s's credential row: %v", user, err)
	}
	if raw.Password.IsZero() {
		t.Fatalf("%s has no stored hash", user)
	}
	return raw.Password.Reveal()
}

// leakKeyring runs the store with a wrong keyring, a disabled key, a key
// in use that is to be retired, and keyring files that fail to load.
func leakKeyring(t *testing.T, l *leakScan, env *avtest.Env, k *keyring.Keyring, s *store.Store) {
	mustUpsert(t, s, l.markerAccount("a", "alice", "github", "gh-a"))
	mustUpsert(t, s, l.markerAccount("b", "bob", "github", "gh-b"))

	wrong := newStore(t, env, genKeyring(t), store.WithLogger(l.log))
	l.must(t, "CheckKeyring with a wrong keyring", admin(wrong).CheckKeyring(ctx), store.ErrWrongKeyring)
	allOps(t, l, "wrong keyring", wrong, ctx, false)
	if n := env.Count(t); n != 2 {
		t.Fatalf("the wrong keyring wrote: %d rows", n)
	}

	dk := k.Clone()
	old := dk.Primary()
	if _, err := dk.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := dk.Disable(old); err != nil {
		t.Fatal(err)
	}
	disabled := newStore(t, env, dk, store.WithLogger(l.log))
	_, err := disabled.FindByProvider(ctx, "github", "gh-a")
	l.must(t, "FindByProvider with the key disabled", err, accountvault.ErrUnknownKey)
	allOps(t, l, "disabled key", disabled, ctx, false)

	// Retiring a key still in use is refused; the keyring refuses to
	// delete a key that is not disabled.
	kk := k.Clone()
	if _, err := kk.Rotate(); err != nil {
		t.Fatal(err)
	}
	l.must(t, "CheckRetire of a key in use", admin(s).CheckRetire(ctx, old, store.WalkOptions{}), store.ErrKeyInUse)
	l.must(t, "Delete of an enabled key", kk.Delete(old), keyring.ErrKeyState)
	l.must(t, "Reload(nil)", s.Reload(nil))

	// Keyring files that fail to load, watched by a replica.
	dir := t.TempDir()
	path := filepath.Join(dir, "keyring.json")
	mk, err := keyring.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	master, err := keyring.ParseMasterKey(mk)
	if err != nil {
		t.Fatal(err)
	}
	l.secret("master key", mk)
	if err := k.SaveFile(path, master); err != nil {
		t.Fatal(err)
	}
	otherMK, err := keyring.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := keyring.ParseMasterKey(otherMK)
	if err != nil {
		t.Fatal(err)
	}
	l.secret("other master key", otherMK)
	_, err = keyring.LoadFile(path, other)
	l.must(t, "LoadFile with the wrong master key", err, keyring.ErrWrongMasterKey)
	var mu sync.Mutex
	var watchErrs []error
	onError := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		watchErrs = append(watchErrs, err)
	}
	for _, w := range []struct{ name, path string }{
		{"wrong master key", path},
		{"missing file", filepath.Join(dir, "absent.json")},
	} {
		wctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		err := admin(s).WatchKeyringFile(wctx, w.path, other, 10*time.Millisecond, onError)
		cancel()
		l.err("WatchKeyringFile "+w.name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "corrupt.json"), []byte(`{"version":1,"keyset":"`+l.marker+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	l.err("WatchKeyringFile corrupt", admin(s).WatchKeyringFile(wctx, filepath.Join(dir, "corrupt.json"), master, 10*time.Millisecond, onError))
	cancel()
	mu.Lock()
	defer mu.Unlock()
	if len(watchErrs) < 3 {
		t.Fatalf("WatchKeyringFile reported %d errors, want at least one per bad file", len(watchErrs))
	}
	for i, err := range watchErrs {
		l.err(fmt.Sprintf("WatchKeyringFile onError %d", i), err)
	}
	// The store kept its keyring.
	if got := mustFind(t, s, "github", "gh-a"); !got.AccessToken.Equal(l.markerAccount("a", "alice", "github", "gh-a").AccessToken) {
		t.Fatal("the store lost its keyring to a bad keyring file")
	}
	env.Exec(t, `DELETE FROM {t}`)
}

// leakPasswords sets, verifies and upgrades passwords that carry the
// marker, and verifies against stored hashes that are tampered with.
func leakPasswords(t *testing.T, l *leakScan, env *avtest.Env, s *store.Store) {
	pw := "pw-" + l.marker
	l.secret("password", pw)
	if err := s.SetPassword(ctx, "carol", pw); err != nil {
		t.Fatal(err)
	}
	l.hash("argon2id hash of carol", rawPassword(t, env, "carol"))
	for _, c := range []struct {
		user, pw string
		want     bool
	}{
		{"carol", pw, true},
		{"carol", "wrong-" + l.marker, false},
		{"nobody", pw, false},
	} {
		ok, err := s.VerifyPassword(ctx, c.user, c.pw)
		l.err("VerifyPassword "+c.user, err)
		if err != nil || ok != c.want {
			t.Fatalf("VerifyPassword(%s): %v, %v; want %v", c.user, ok, err, c.want)
		}
	}
	// A password change replaces the hash.
	if err := s.SetPassword(ctx, "carol", "new-"+pw); err != nil {
		t.Fatal(err)
	}
	l.hash("second argon2id hash of carol", rawPassword(t, env, "carol"))

	// A legacy bcrypt hash (an adopted better-auth table) verifies and is
	// upgraded to argon2id, with an audit event.
	bc, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	l.hash("bcrypt hash of dave", string(bc))
	dave := account("dave-cred", "dave", accountvault.ProviderCredential, "dave")
	dave.AccessToken, dave.RefreshToken, dave.IDToken = accountvault.Secret{}, accountvault.Secret{}, accountvault.Secret{}
	dave.Password = accountvault.SecretBytes(bc)
	mustUpsert(t, s, dave)
	ok, err := s.VerifyPassword(ctx, "dave", "wrong-"+l.marker)
	l.err("VerifyPassword dave (wrong, bcrypt)", err)
	if err != nil || ok {
		t.Fatalf("wrong password against bcrypt: %v %v", ok, err)
	}
	// Over bcrypt's 72 bytes: a wrong password, as for an unknown user.
	ok, err = s.VerifyPassword(ctx, "dave", strings.Repeat(l.marker, 4))
	l.err("VerifyPassword dave (over 72 bytes, bcrypt)", err)
	if err != nil || ok {
		t.Fatalf("over-long password against bcrypt: %v %v", ok, err)
	}
	ok, err = s.VerifyPassword(ctx, "dave", pw)
	l.err("VerifyPassword dave (bcrypt)", err)
	if err != nil || !ok {
		t.Fatalf("bcrypt password: %v %v", ok, err)
	}
	up := rawPassword(t, env, "dave")
	if !strings.HasPrefix(up, "$argon2id$") {
		t.Fatal("the bcrypt hash was not upgraded")
	}
	l.hash("upgraded hash of dave", up)

	// Stored hashes that are tampered with: the error must not quote them.
	enc := base64.RawStdEncoding.EncodeToString
	for _, bad := range []struct{ name, hash string }{
		{"argon2id over the memory bound", "$argon2id$v=19$m=999999999,t=3,p=4$" + enc([]byte(l.marker)) + "$" + enc([]byte(l.marker+l.marker))},
		{"argon2id with a non-base64 salt", "$argon2id$v=19$m=65536,t=3,p=4$!" + l.marker + "$" + enc([]byte(l.marker))},
		{"argon2id with a bad version", "$argon2id$v=7$m=65536,t=3,p=4$" + enc([]byte(l.marker)) + "$" + enc([]byte(l.marker))},
		{"argon2i", "$argon2i$v=19$m=65536,t=3,p=4$" + enc([]byte(l.marker)) + "$" + enc([]byte(l.marker))},
		{"bcrypt over the cost bound", "$2b$31$" + (l.marker + l.marker + l.marker)[:53]},
		{"bcrypt $2x$", "$2x$10$" + (l.marker + l.marker + l.marker)[:53]},
		{"scrypt with uppercase hex", strings.ToUpper(hex.EncodeToString([]byte(l.marker)))[:32] + ":" + strings.Repeat(strings.ToUpper(hex.EncodeToString([]byte(l.marker))), 3)[:128]},
		{"unknown format", "{SSHA}" + l.marker},
	} {
		l.hash("tampered hash: "+bad.name, bad.hash)
		env.SetRaw(t, "dave-cred", "password", bad.hash)
		_, err := s.VerifyPassword(ctx, "dave", pw)
		l.must(t, "VerifyPassword against "+bad.name, err)
		_, err = s.FindForUser(ctx, "dave")
		l.err("FindForUser with "+bad.name, err)
		// A SetPassword still replaces it.
		if err := s.SetPassword(ctx, "dave", pw); err != nil {
			t.Fatalf("SetPassword over %s: %v", bad.name, err)
		}
		l.hash("hash of dave after "+bad.name, rawPassword(t, env, "dave"))
	}
	env.Exec(t, `DELETE FROM {t}`)
}

// leakNetwork cuts the Postgres connection under writes, password changes
// and a password-hash upgrade (whose failure is only logged).
func leakNetwork(t *testing.T, l *leakScan) {
	p := newProxied(t, store.WithLogger(l.log))
	pw := "pw-" + l.marker
	mustUpsert(t, p.s, l.markerAccount("n1", "erin", "github", "n1"))
	for _, n := range []int64{0, 40, 200} {
		p.proxy.CutAfter(faultproxy.Upstream, n)
		_, err := p.s.Upsert(ctx, l.markerAccount("n1", "erin", "github", "n1"))
		l.must(t, fmt.Sprintf("Upsert cut after %d bytes", n), err)
		p.recovered(t)
		p.proxy.CutAfter(faultproxy.Downstream, n)
		_, err = p.s.FindByProvider(ctx, "github", "n1")
		l.must(t, fmt.Sprintf("FindByProvider cut after %d response bytes", n), err)
		p.recovered(t)
		p.proxy.CutAfter(faultproxy.Upstream, n)
		l.must(t, fmt.Sprintf("SetPassword cut after %d bytes", n), p.s.SetPassword(ctx, "erin", pw))
		p.recovered(t)
	}
	p.proxy.SetDown(true)
	p.proxy.CutAll()
	allOps(t, l, "server unreachable", p.s, ctx, false)
	p.proxy.SetDown(false)
	p.recovered(t)

	// The upgrade of a bcrypt hash fails when the connection is cut
	// during its CompareAndSwap: the login still succeeds, and the
	// failure is logged with its error.
	bc, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	l.hash("bcrypt hash of frank", string(bc))
	frank := account("frank-cred", "frank", accountvault.ProviderCredential, "frank")
	frank.AccessToken, frank.RefreshToken, frank.IDToken = accountvault.Secret{}, accountvault.Secret{}, accountvault.Secret{}
	frank.Password = accountvault.SecretBytes(bc)
	mustUpsert(t, p.s, frank)
	// The lookup's request size, on the warm connection (a wrong
	// password reads the row and writes nothing).
	lookup, _ := p.warmTraffic(t, func() {
		if ok, err := p.s.VerifyPassword(ctx, "frank", "wrong"); err != nil || ok {
			t.Fatalf("VerifyPassword(wrong): %v %v", ok, err)
		}
	})
	// Cut 10 bytes into the request after the lookup's. (Should the
	// lookup itself cost more this time and be cut, try again.)
	for attempt := 1; ; attempt++ {
		cuts := p.proxy.Cuts()
		p.proxy.CutAfter(faultproxy.Upstream, lookup+10)
		ok, err := p.s.VerifyPassword(ctx, "frank", pw)
		l.err("VerifyPassword with the upgrade cut", err)
		if p.proxy.Cuts() == cuts {
			t.Fatal("the cut did not strike the login")
		}
		if err == nil {
			if !ok {
				t.Fatal("a login whose hash upgrade was cut failed")
			}
			break
		}
		if attempt == 3 {
			t.Fatalf("the cut struck the lookup %d times: %v", attempt, err)
		}
		p.recovered(t)
	}
	p.settled(t)
	if h := rawPassword(t, p.env, "frank"); h != string(bc) {
		t.Fatal("the cut upgrade changed the hash")
	}
	p.recovered(t)
	if ok, err := p.s.VerifyPassword(ctx, "frank", pw); err != nil || !ok {
		t.Fatalf("login after recovery: %v %v", ok, err)
	}
	l.hash("upgraded hash of frank", rawPassword(t, p.env, "frank"))
}
