package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

func TestRoundTrip(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		h := testHasher(t)
		s := newStore(t, env, genKeyring(t), store.WithPasswordHasher(h))
		hash, err := h.Hash(ctx, "pw")
		if err != nil {
			t.Fatal(err)
		}
		a := account("r1", "u1", "github", "gh-1")
		rexp := time.Unix(1_950_000_000, 0).UTC()
		a.RefreshTokenExpiresAt = &rexp
		a.Password = secret(hash)
		a.CreatedAt = time.Unix(1_700_000_000, 0).UTC()
		a.UpdatedAt = time.Unix(1_700_000_100, 0).UTC()
		put := mustUpsert(t, s, a)
		sameTokens(t, put, a)

		got := mustFind(t, s, "github", "gh-1")
		sameTokens(t, got, a)
		if got.ID != a.ID || got.UserID != a.UserID || got.ProviderID != a.ProviderID || got.AccountID != a.AccountID || got.Scope != a.Scope {
			t.Errorf("clear fields differ: got %+v", got)
		}
		if !got.AccessTokenExpiresAt.Equal(*a.AccessTokenExpiresAt) || !got.RefreshTokenExpiresAt.Equal(rexp) {
			t.Errorf("expiries differ: %v %v", got.AccessTokenExpiresAt, got.RefreshTokenExpiresAt)
		}
		if !got.CreatedAt.Equal(a.CreatedAt) || !got.UpdatedAt.Equal(a.UpdatedAt) {
			t.Errorf("times differ: %v %v", got.CreatedAt, got.UpdatedAt)
		}
		// The stored tokens are sealed, not the plaintext.
		for _, col := range []string{"access_token", "refresh_token", "id_token"} {
			if raw := env.Raw(t, "r1", col); !envelope.IsSealed(raw) {
				t.Errorf("%s is not sealed at rest", col)
			}
		}

		users, err := s.FindForUser(ctx, "u1")
		if err != nil || len(users) != 1 {
			t.Fatalf("FindForUser: %d rows, %v", len(users), err)
		}
		sameTokens(t, users[0], a)
		page, err := s.List(ctx, "", 10)
		if err != nil || len(page) != 1 {
			t.Fatalf("List: %d rows, %v", len(page), err)
		}
		sameTokens(t, page[0], a)

		if err := s.Unlink(ctx, "github", "gh-1"); err != nil {
			t.Fatal(err)
		}
		_, err = s.FindByProvider(ctx, "github", "gh-1")
		wantErr(t, "find after unlink", err, accountvault.ErrNotFound)
	})
}

func TestRelinkKeepsID(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env, genKeyring(t))
		first := mustUpsert(t, s, account("orig", "u1", "google", "g-1"))
		again := account("other-id", "u1", "google", "g-1")
		again.AccessToken = secret("fresh access")
		got := mustUpsert(t, s, again)
		if got.ID != "orig" || !got.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("re-link: id %q created %v, want %q %v", got.ID, got.CreatedAt, "orig", first.CreatedAt)
		}
		found := mustFind(t, s, "google", "g-1")
		if found.ID != "orig" || !is(found.AccessToken, "fresh access") {
			t.Fatalf("re-link did not refresh the token or kept another id (%q)", found.ID)
		}
		if n := env.Count(t); n != 1 {
			t.Fatalf("%d rows after re-link, want 1", n)
		}
	})
}

func TestTokenSizes(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env, genKeyring(t))
		for _, n := range []int{0, 1, envelope.MaxPlaintext} {
			a := account("size", "u1", "github", "size")
			a.AccessToken = accountvault.SecretBytes(bytes.Repeat([]byte{0xA7}, n)) // even a prefix-looking token
			a.RefreshToken = accountvault.SecretBytes(bytes.Repeat([]byte("x"), n))
			a.IDToken = accountvault.Secret{}
			mustUpsert(t, s, a)
			got := mustFind(t, s, "github", "size")
			sameTokens(t, got, a)
			if n == 0 && env.Raw(t, "size", "access_token") != nil {
				t.Errorf("empty token stored as a non-NULL value")
			}
			if env.Raw(t, "size", "id_token") != nil {
				t.Errorf("empty id_token stored as a non-NULL value")
			}
		}
		a := account("big", "u1", "github", "big")
		a.IDToken = secret(strings.Repeat("x", envelope.MaxPlaintext+1))
		_, err := s.Upsert(ctx, a)
		wantErr(t, "oversize token", err, accountvault.ErrInvalidAccount)
		var ie *accountvault.InvalidAccountError
		if !errors.As(err, &ie) || ie.Field != "IDToken" {
			t.Fatalf("oversize token: error %v does not name IDToken", err)
		}
		if n := env.Count(t); n != 1 {
			t.Fatalf("%d rows, want 1: the oversize row was written", n)
		}
	})
}

func TestPlaintextPasswordRefused(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env, genKeyring(t))
		a := account("p", "u1", accountvault.ProviderCredential, "u1")
		a.Password = secret("hunter2hunter2")
		_, err := s.Upsert(ctx, a)
		wantErr(t, "plaintext password", err, accountvault.ErrPasswordNotHashed, accountvault.ErrInvalidAccount)
		noSecretIn(t, "error", errString(err), "hunter2hunter2")
		if n := env.Count(t); n != 0 {
			t.Fatalf("a plaintext password row was written")
		}
	})
}

// TestTamper edits the database with raw SQL and checks that each edit
// gives the documented error.
func TestTamper(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		s := newStore(t, env, k)
		// fresh writes the two rows again; each case tampers with them.
		fresh := func(t *testing.T) {
			mustUpsert(t, s, account("a", "alice", "github", "gh-a"))
			mustUpsert(t, s, account("b", "bob", "github", "gh-b"))
			mustUpsert(t, s, account("a2", "alice", "google", "go-a"))
		}
		find := func(provider, acct string) error {
			_, err := s.FindByProvider(ctx, provider, acct)
			return err
		}
		flip := func(t *testing.T, off int) {
			v := env.Raw(t, "a", "access_token")
			if off < 0 {
				off += len(v)
			}
			v[off] ^= 0x01
			env.SetRaw(t, "a", "access_token", v)
		}
		keyID := func(v []byte) uint32 {
			id, err := envelope.KeyID(v)
			if err != nil {
				t.Fatalf("KeyID: %v", err)
			}
			return id
		}
		// Offsets from FORMAT.md: magic 0..2, version 3, key id 4..7,
		// wrapped length 8, wrapped key 9..68, nonce 69..80, ciphertext, tag.
		cases := []struct {
			name   string
			tamper func(t *testing.T)
			want   error
			column string
		}{
			{"swap between rows", func(t *testing.T) {
				env.SetRaw(t, "a", "access_token", env.Raw(t, "b", "access_token"))
			}, accountvault.ErrDecrypt, "access_token"},
			{"swap between columns", func(t *testing.T) {
				env.SetRaw(t, "a", "access_token", env.Raw(t, "a", "refresh_token"))
			}, accountvault.ErrDecrypt, "access_token"},
			{"swap between users, same provider", func(t *testing.T) {
				env.SetRaw(t, "a", "id_token", env.Raw(t, "b", "id_token"))
			}, accountvault.ErrDecrypt, "id_token"},
			{"swap between rows of one user", func(t *testing.T) {
				env.SetRaw(t, "a", "refresh_token", env.Raw(t, "a2", "refresh_token"))
			}, accountvault.ErrDecrypt, "refresh_token"},
			{"re-point user_id", func(t *testing.T) {
				env.SetRaw(t, "a", "user_id", "mallory")
			}, accountvault.ErrDecrypt, ""},
			{"flip magic first byte", func(t *testing.T) { flip(t, 0) }, accountvault.ErrLegacyPlaintext, "access_token"},
			{"flip magic second byte", func(t *testing.T) { flip(t, 1) }, accountvault.ErrDecrypt, "access_token"},
			{"flip version", func(t *testing.T) { flip(t, 3) }, accountvault.ErrDecrypt, "access_token"},
			{"flip key id", func(t *testing.T) { flip(t, 7) }, accountvault.ErrUnknownKey, "access_token"},
			{"flip wrapped length", func(t *testing.T) { flip(t, 8) }, accountvault.ErrDecrypt, "access_token"},
			{"flip wrapped key", func(t *testing.T) { flip(t, 30) }, accountvault.ErrDecrypt, "access_token"},
			{"flip nonce", func(t *testing.T) { flip(t, 70) }, accountvault.ErrDecrypt, "access_token"},
			{"flip ciphertext", func(t *testing.T) { flip(t, 82) }, accountvault.ErrDecrypt, "access_token"},
			{"flip tag", func(t *testing.T) { flip(t, -1) }, accountvault.ErrDecrypt, "access_token"},
			{"truncate", func(t *testing.T) {
				v := env.Raw(t, "a", "access_token")
				env.SetRaw(t, "a", "access_token", v[:len(v)-5])
			}, accountvault.ErrDecrypt, "access_token"},
			{"remove prefix", func(t *testing.T) {
				v := env.Raw(t, "a", "access_token")[4:]
				// The key id's first byte is random: if it happens to be
				// the magic byte, the value still claims to be sealed
				// (FORMAT.md classifies by the first byte); drop it too.
				for len(v) > 0 && v[0] == 0xA7 {
					v = v[1:]
				}
				env.SetRaw(t, "a", "access_token", v)
			}, accountvault.ErrLegacyPlaintext, "access_token"},
			{"plaintext written", func(t *testing.T) {
				env.SetRaw(t, "a", "access_token", []byte("ya29.plain"))
			}, accountvault.ErrLegacyPlaintext, "access_token"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				fresh(t)
				if id := keyID(env.Raw(t, "a", "access_token")); id != k.Primary() {
					t.Fatalf("row not sealed under the primary key")
				}
				c.tamper(t)
				err := find("github", "gh-a")
				wantErr(t, c.name, err, c.want)
				var re *accountvault.RowError
				if !errors.As(err, &re) || re.ID != "a" {
					t.Fatalf("%s: error %v does not name row a", c.name, err)
				}
				if c.column != "" && re.Column != c.column {
					t.Fatalf("%s: error names column %q, want %q", c.name, re.Column, c.column)
				}
				noSecretIn(t, "error", err.Error(), "at-a", "rt-a", "it-a", "at-b", "rt-b", "it-b")
				// The other rows still open.
				if err := find("github", "gh-b"); err != nil {
					t.Fatalf("untouched row fails: %v", err)
				}
				env.Exec(t, `DELETE FROM {t}`)
			})
		}

		t.Run("keyring without the KEK", func(t *testing.T) {
			fresh(t)
			other := newStore(t, env, genKeyring(t))
			_, err := other.FindByProvider(ctx, "github", "gh-a")
			wantErr(t, "other keyring", err, accountvault.ErrUnknownKey, store.ErrWrongKeyring)
			env.Exec(t, `DELETE FROM {t}`)
		})
		t.Run("disabled KEK", func(t *testing.T) {
			fresh(t)
			k2 := k.Clone()
			old := k2.Primary()
			if _, err := k2.Rotate(); err != nil {
				t.Fatal(err)
			}
			if err := k2.Disable(old); err != nil {
				t.Fatal(err)
			}
			other := newStore(t, env, k2)
			_, err := other.FindByProvider(ctx, "github", "gh-a")
			wantErr(t, "disabled key", err, accountvault.ErrUnknownKey)
			env.Exec(t, `DELETE FROM {t}`)
		})
	})
}

// TestFindForUserReportsBadRow: a row that fails to open is reported by id,
// never dropped silently, and the others are still returned.
func TestFindForUserReportsBadRow(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env, genKeyring(t))
		for _, a := range []accountvault.Account{
			account("a1", "alice", "github", "1"), account("a2", "alice", "google", "2"), account("a3", "alice", "gitlab", "3"),
		} {
			mustUpsert(t, s, a)
		}
		env.SetRaw(t, "a2", "access_token", env.Raw(t, "a1", "access_token"))
		for name, call := range map[string]func() ([]accountvault.Account, error){
			"FindForUser": func() ([]accountvault.Account, error) { return s.FindForUser(ctx, "alice") },
			"List":        func() ([]accountvault.Account, error) { return s.List(ctx, "", 10) },
		} {
			rows, err := call()
			wantErr(t, name, err, accountvault.ErrDecrypt)
			var re *accountvault.RowError
			if !errors.As(err, &re) || re.ID != "a2" || re.Column != "access_token" {
				t.Fatalf("%s: error %v does not name row a2 access_token", name, err)
			}
			if len(rows) != 2 || rows[0].ID != "a1" || rows[1].ID != "a3" {
				t.Fatalf("%s: got %d rows, want a1 and a3", name, len(rows))
			}
		}
	})
}

func TestCompareAndSwap(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env, genKeyring(t))
		old := mustUpsert(t, s, account("c", "u", "github", "c"))
		next := old
		next.AccessToken = secret("rotated access")
		if err := s.CompareAndSwap(ctx, old, next); err != nil {
			t.Fatalf("first CompareAndSwap: %v", err)
		}
		if got := mustFind(t, s, "github", "c"); !is(got.AccessToken, "rotated access") {
			t.Fatalf("CompareAndSwap did not write")
		}
		err := s.CompareAndSwap(ctx, old, next)
		wantErr(t, "stale CompareAndSwap", err, accountvault.ErrConflict)
		moved := next
		moved.UserID = "other"
		wantErr(t, "CompareAndSwap changing the user", s.CompareAndSwap(ctx, next, moved), accountvault.ErrInvalidAccount)
		if err := s.Unlink(ctx, "github", "c"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "CompareAndSwap on a gone row", s.CompareAndSwap(ctx, next, old), accountvault.ErrConflict)
	})
}

// TestAtRest: a marker written in every token appears nowhere in the
// SQLite file and its WAL, nor in any column of the Postgres table.
func TestAtRest(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env, genKeyring(t))
		const marker = "MARKER-7f3c9a1e-secret"
		for i, id := range []string{"m1", "m2", "m3"} {
			a := account(id, "u", "github", id)
			a.AccessToken = secret(marker + "-access-" + strings.Repeat("z", i*500))
			a.RefreshToken = secret(marker + "-refresh")
			a.IDToken = secret("eyJ" + marker)
			mustUpsert(t, s, a)
		}
		if got := mustFind(t, s, "github", "m2"); !strings.Contains(got.RefreshToken.Reveal(), marker) {
			t.Fatal("round trip lost the marker")
		}
		var stored []byte
		if env.DBFile != "" {
			for _, f := range []string{env.DBFile, env.DBFile + "-wal", env.DBFile + "-shm"} {
				b, err := os.ReadFile(f)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				stored = append(stored, b...)
			}
			if len(stored) == 0 {
				t.Fatal("read nothing from the database files")
			}
			matches, _ := filepath.Glob(env.DBFile + "*")
			t.Logf("scanned %d files, %d bytes", len(matches), len(stored))
		} else {
			stored = env.AllBytes(t)
		}
		if !bytes.Contains(stored, []byte("github")) {
			t.Fatal("scan is blind: it does not even see the clear provider id")
		}
		if bytes.Contains(stored, []byte(marker)) || bytes.Contains(stored, []byte("MARKER")) {
			t.Fatal("the marker appears in the stored bytes")
		}
	})
}

// TestRotation: after a rotation, old rows open and new writes use the new
// key; after Rewrap, the rows open under the new key alone.
func TestRotation(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		s := newStore(t, env, k)
		mustUpsert(t, s, account("old", "u", "github", "old"))
		oldID := k.Primary()
		newID, err := k.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		reload(t, s, k)
		sameTokens(t, mustFind(t, s, "github", "old"), account("old", "u", "github", "old"))
		mustUpsert(t, s, account("new", "u", "google", "new"))
		keyOf := func(id string) uint32 {
			v, err := envelope.KeyID(env.Raw(t, id, "access_token"))
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		if keyOf("old") != oldID || keyOf("new") != newID {
			t.Fatalf("keys: old row %d new row %d, want %d %d", keyOf("old"), keyOf("new"), oldID, newID)
		}
		oldCT := env.Raw(t, "old", "refresh_token")
		rep, err := admin(s).Rewrap(ctx, store.WalkOptions{BatchSize: 1})
		if err != nil || rep.Rewritten != 1 || rep.Skipped != 1 || rep.Failed != 0 {
			t.Fatalf("Rewrap: %+v, %v", rep.Progress, err)
		}
		newCT := env.Raw(t, "old", "refresh_token")
		if keyOf("old") != newID {
			t.Fatalf("rewrapped row still on key %d", keyOf("old"))
		}
		// Token nonce, ciphertext and tag are unchanged: only the wrapped key moved.
		// (FORMAT.md: the wrapped key's length is byte 8; the token's nonce follows it.)
		body := func(v []byte) []byte { return v[9+int(v[8]):] }
		if !bytes.Equal(body(oldCT), body(newCT)) || bytes.Equal(oldCT[9:9+int(oldCT[8])], newCT[9:9+int(newCT[8])]) {
			t.Fatal("rewrap changed the token ciphertext")
		}
		// Opens under the new key alone.
		only := k.Clone()
		if err := only.Disable(oldID); err != nil {
			t.Fatal(err)
		}
		s2 := newStore(t, env, only)
		sameTokens(t, mustFind(t, s2, "github", "old"), account("old", "u", "github", "old"))
		rep2, err := admin(s2).Check(ctx, store.WalkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if u := rep2.KeyUsage(); u[oldID] != 0 || u[newID] != 6 {
			t.Fatalf("key usage after rewrap: %v", u)
		}
	})
}

// TestWrongKeyring: a store given another keyring fails clearly at first use.
func TestWrongKeyring(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		mustUpsert(t, newStore(t, env, genKeyring(t)), account("x", "u", "github", "x"))
		wrong := newStore(t, env, genKeyring(t))
		err := admin(wrong).CheckKeyring(ctx)
		wantErr(t, "CheckKeyring", err, store.ErrWrongKeyring, accountvault.ErrUnknownKey)
		_, err = wrong.Upsert(ctx, account("y", "u", "google", "y"))
		wantErr(t, "first write with the wrong keyring", err, store.ErrWrongKeyring)
		if n := env.Count(t); n != 1 {
			t.Fatalf("the wrong keyring wrote a row")
		}
		// A wrong table name is caught the same way (every row fails to open).
		wrongTable, err := store.New(struct{ accountvault.Backend }{env.Backend}, kekOf(t, genKeyring(t)), store.WithTable("elsewhere"))
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "wrong table", admin(wrongTable).CheckKeyring(ctx), store.ErrWrongKeyring)
	})
}

// TestReloadUnderLoad swaps keyring versions while readers and writers run.
func TestReloadUnderLoad(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		s := newStore(t, env, k)
		const rows = 8
		for i := range rows {
			mustUpsert(t, s, account(string(rune('a'+i)), "u", "p", string(rune('a'+i))))
		}
		var stop atomic.Bool
		var ops atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					id := string(rune('a' + (i+w)%rows))
					var err error
					if w%2 == 0 {
						_, err = s.Upsert(ctx, account(id, "u", "p", id))
					} else {
						_, err = s.FindByProvider(ctx, "p", id)
					}
					if err != nil {
						errs <- err
						return
					}
					ops.Add(1)
				}
			}()
		}
		for range 5 {
			time.Sleep(30 * time.Millisecond)
			kc := k.Clone()
			if _, err := kc.Rotate(); err != nil {
				t.Fatal(err)
			}
			reload(t, s, kc)
			k = kc
		}
		time.Sleep(30 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("during reloads: %v", err)
		}
		if ops.Load() == 0 {
			t.Fatal("no operation ran")
		}
		rep, err := admin(s).Check(ctx, store.WalkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, failed := rep.Totals(); failed != 0 || rep.Rows != rows {
			t.Fatalf("after reloads: %d rows, %d failures", rep.Rows, failed)
		}
		t.Logf("%d operations across 5 reloads", ops.Load())
	})
}

// TestLegacyMode: in an adopted table, plaintext is refused by default and
// readable only in legacy-migration mode, beside the sealed rows;
// EncryptLegacy seals it and finishes the adoption.
func TestLegacyMode(t *testing.T) {
	eachAdopted(t, []avtest.Legacy{
		{ID: "l", UserID: "u", ProviderID: "github", AccountID: "l", AccessToken: "ya29.legacy-plaintext", RefreshToken: "rt-l"},
	}, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		s := newStore(t, env, k)
		mustUpsert(t, s, account("s", "u", "google", "s")) // a sealed row beside the legacy one
		_, err := s.FindByProvider(ctx, "github", "l")
		wantErr(t, "default mode", err, accountvault.ErrLegacyPlaintext)

		legacy := newStore(t, env, k, store.WithLegacyPlaintext())
		got := mustFind(t, legacy, "github", "l")
		if !is(got.AccessToken, "ya29.legacy-plaintext") || !is(got.RefreshToken, "rt-l") {
			t.Fatal("legacy mode did not return the plaintext")
		}
		sameTokens(t, mustFind(t, legacy, "google", "s"), account("s", "u", "google", "s"))
		rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{})
		if err != nil || rep.Rewritten != 1 || rep.Sealed != 2 || rep.Failed != 0 || !rep.Finished {
			t.Fatalf("EncryptLegacy: %+v %v", rep, err)
		}
		if got := mustFind(t, s, "github", "l"); !is(got.AccessToken, "ya29.legacy-plaintext") || !is(got.RefreshToken, "rt-l") {
			t.Fatal("EncryptLegacy changed the value")
		}
		for _, col := range []string{"access_token", "refresh_token"} {
			if !envelope.IsSealed(env.Raw(t, "l", col)) {
				t.Fatalf("EncryptLegacy left plaintext in %s", col)
			}
		}
		if env.Raw(t, "l", "id_token") != nil {
			t.Fatal("EncryptLegacy wrote a value into an empty column")
		}
	})
}

// TestEncryptLegacyRefusesWrongKeyring: sealing plaintext under another
// deployment's keyring would leave rows the others cannot open.
func TestEncryptLegacyRefusesWrongKeyring(t *testing.T) {
	// A legacy row of an adopted table: plaintext tokens.
	env := avtest.NewAdopted(t, "sqlite", avtest.Legacy{ID: "l", UserID: "u", ProviderID: "google", AccountID: "l",
		AccessToken: "at-l", RefreshToken: "rt-l", IDToken: "it-l"})
	mustUpsert(t, newStore(t, env, genKeyring(t)), account("s", "u", "github", "s"))
	rep, err := admin(newStore(t, env, genKeyring(t))).EncryptLegacy(ctx, store.WalkOptions{})
	wantErr(t, "EncryptLegacy with the wrong keyring", err, store.ErrWrongKeyring)
	if rep.Rewritten != 0 || string(env.Raw(t, "l", "access_token")) != "at-l" {
		t.Fatal("EncryptLegacy sealed a row under the wrong keyring")
	}
}

// TestReloadReverifies: a keyring loaded by Reload is verified again before
// it seals or opens anything. Another deployment's keyring is refused by
// Reload itself (it drops the primary key in use); keys that are not a
// *keyring.KEK are held to their generation only, so such keys of a higher
// generation pass Reload, and the verification must catch them.
func TestReloadReverifies(t *testing.T) {
	env := avtest.New(t, "sqlite")
	k := genKeyring(t)
	s := newStore(t, env, k)
	mustUpsert(t, s, account("a", "u", "github", "a"))
	if err := s.Reload(kekOf(t, genKeyring(t))); !errors.Is(err, keyring.ErrRollback) {
		t.Fatalf("Reload of another deployment's keyring: %v, want ErrRollback", err)
	}
	if err := s.Reload(laterKeys{kekOf(t, genKeyring(t)), k.Generation() + 1}); err != nil {
		t.Fatalf("Reload of keys of a higher generation: %v", err)
	}
	_, err := s.Upsert(ctx, account("b", "u", "google", "b"))
	wantErr(t, "write after reloading a wrong keyring", err, store.ErrWrongKeyring)
	if n := env.Count(t); n != 1 {
		t.Fatal("a row was sealed under the unverified keyring")
	}
}

// TestRewrapLeavesNewerKeys: a replica whose keyring still holds a key as
// staged must not move values that another replica, which has promoted
// that key, sealed under it back onto its own older primary.
func TestRewrapLeavesNewerKeys(t *testing.T) {
	env := avtest.New(t, "sqlite")
	k := genKeyring(t)
	staged, err := k.Stage()
	if err != nil {
		t.Fatal(err)
	}
	behind := newStore(t, env, k) // sees the new key as staged
	// behind is running (verified) before the other replica promotes.
	if err := admin(behind).CheckKeyring(ctx); err != nil {
		t.Fatal(err)
	}
	ahead := k.Clone()
	if err := ahead.Promote(staged); err != nil {
		t.Fatal(err)
	}
	mustUpsert(t, newStore(t, env, ahead), account("n", "u", "github", "n"))
	rep, err := admin(behind).Rewrap(ctx, store.WalkOptions{})
	if err != nil || rep.Rewritten != 0 || rep.Skipped != 1 {
		t.Fatalf("Rewrap: %+v, %v", rep.Progress, err)
	}
	if id, err := envelope.KeyID(env.Raw(t, "n", "access_token")); err != nil || id != staged {
		t.Fatalf("the value moved off the newer key (now %d, %v)", id, err)
	}
}

// TestEncryptLegacyMixedRow: in a table being adopted, a row whose sealed
// token is larger than the plaintext limit and which also holds a
// plaintext value is not sealed (a plaintext beside a sealed value was
// planted: issue 9), and is reported by row and column; a legacy row whose
// token is exactly the plaintext limit is sealed, as EncryptLegacy checks
// the sizes of plaintexts only, not of the sealed result.
func TestEncryptLegacyMixedRow(t *testing.T) {
	big := strings.Repeat("y", envelope.MaxPlaintext)
	env := avtest.NewAdopted(t, "sqlite", avtest.Legacy{ID: "big", UserID: "u", ProviderID: "gitlab", AccountID: "big", AccessToken: big})
	s := newStore(t, env, genKeyring(t))
	a := account("m", "u", "github", "m")
	a.AccessToken = secret(strings.Repeat("x", envelope.MaxPlaintext))
	mustUpsert(t, s, a)
	sealedBefore := env.Raw(t, "m", "access_token")
	if len(sealedBefore) <= envelope.MaxPlaintext {
		t.Fatal("the sealed token is not over the plaintext limit: the test proves nothing")
	}
	env.SetRaw(t, "m", "refresh_token", []byte("legacy-refresh"))
	rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{})
	if err != nil || rep.Failed != 1 || rep.Sealed != 1 || rep.Rewritten != 1 || rep.Finished {
		t.Fatalf("EncryptLegacy: %+v, %v", rep, err)
	}
	if len(rep.Failures) != 1 || rep.Failures[0].ID != "m" || rep.Failures[0].Column != "refresh_token" ||
		!errors.Is(rep.Failures[0], accountvault.ErrUnexpectedPlaintext) {
		t.Fatalf("EncryptLegacy failures %v, want row m refresh_token unexpected plaintext", rep.Failures)
	}
	if string(env.Raw(t, "m", "refresh_token")) != "legacy-refresh" || !bytes.Equal(env.Raw(t, "m", "access_token"), sealedBefore) {
		t.Fatal("values of the mixed row changed")
	}
	if got := mustFind(t, s, "gitlab", "big"); !is(got.AccessToken, big) {
		t.Fatal("the legacy token at the plaintext limit changed")
	}
	if raw := env.Raw(t, "big", "access_token"); !envelope.IsSealed(raw) || len(raw) <= envelope.MaxPlaintext {
		t.Fatal("the legacy token at the plaintext limit was not sealed")
	}
}

// TestCompareAndSwapWritesRefresh: a refresh stored by CompareAndSwap
// writes the new expiries and scope with the new tokens, atomically; a
// losing swap writes none of them (issue 9, item 5). Before, the backends'
// swap wrote the secret columns only, and the row kept its old expiries
// and scope.
func TestCompareAndSwapWritesRefresh(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		s := newStore(t, env, genKeyring(t))
		old := mustUpsert(t, s, account("c", "u", "github", "c"))
		if old.RefreshTokenExpiresAt != nil {
			t.Fatal("the fixture has a refresh expiry: the test proves less")
		}
		at, rt := time.Unix(1_950_000_000, 0).UTC(), time.Unix(1_960_000_000, 0).UTC()
		next := old
		next.AccessToken, next.RefreshToken = secret("at-c-2"), secret("rt-c-2")
		next.AccessTokenExpiresAt, next.RefreshTokenExpiresAt = &at, &rt
		next.Scope = "openid email offline_access"
		if err := s.CompareAndSwap(ctx, old, next); err != nil {
			t.Fatalf("CompareAndSwap: %v", err)
		}
		same := func(what string, want accountvault.Account) {
			t.Helper()
			got := mustFind(t, s, "github", "c")
			sameTokens(t, got, want)
			if got.Scope != want.Scope {
				t.Errorf("%s: scope %q, want %q", what, got.Scope, want.Scope)
			}
			for _, e := range []struct {
				name      string
				got, want *time.Time
			}{
				{"AccessTokenExpiresAt", got.AccessTokenExpiresAt, want.AccessTokenExpiresAt},
				{"RefreshTokenExpiresAt", got.RefreshTokenExpiresAt, want.RefreshTokenExpiresAt},
			} {
				if (e.got == nil) != (e.want == nil) || (e.got != nil && !e.got.Equal(*e.want)) {
					t.Errorf("%s: %s is %v, want %v", what, e.name, e.got, e.want)
				}
			}
		}
		same("after the swap", next)

		// A losing swap (from the old tokens) writes nothing.
		loser := old
		loser.AccessToken, loser.RefreshToken = secret("at-c-lost"), secret("rt-c-lost")
		lat := time.Unix(1_970_000_000, 0).UTC()
		loser.AccessTokenExpiresAt, loser.RefreshTokenExpiresAt = &lat, &lat
		loser.Scope = "lost"
		wantErr(t, "losing CompareAndSwap", s.CompareAndSwap(ctx, old, loser), accountvault.ErrConflict)
		same("after the losing swap", next)

		// Unknown expiries are written as unknown.
		cleared := next
		cleared.AccessToken = secret("at-c-3")
		cleared.AccessTokenExpiresAt, cleared.RefreshTokenExpiresAt = nil, nil
		cleared.Scope = ""
		if err := s.CompareAndSwap(ctx, next, cleared); err != nil {
			t.Fatalf("CompareAndSwap clearing the expiries: %v", err)
		}
		same("after clearing the expiries", cleared)
	})
}

// TestDeleteUser: DeleteUser erases every row of one user, the password
// row included, and no other, returns the count, and logs an audit event
// with the user id and the count, never a token or hash.
func TestDeleteUser(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		var logs syncBuffer
		s := newStore(t, env, genKeyring(t), store.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		for _, a := range []accountvault.Account{
			account("a1", "alice", "github", "gh-a"), account("a2", "alice", "google", "go-a"),
			account("b1", "bob", "github", "gh-b"), account("b2", "bob", "google", "alice"), // bob's row whose AccountID is "alice"
		} {
			mustUpsert(t, s, a)
		}
		if err := s.SetPassword(ctx, "alice", "alice's password"); err != nil {
			t.Fatal(err)
		}
		hash := storedHash(t, env, "alice")

		n, err := s.DeleteUser(ctx, "alice")
		if err != nil || n != 3 {
			t.Fatalf("DeleteUser(alice) = %d, %v; want 3 rows", n, err)
		}
		if rows, err := s.FindForUser(ctx, "alice"); err != nil || len(rows) != 0 {
			t.Fatalf("alice after erasure: %d rows, %v", len(rows), err)
		}
		if ok, err := s.VerifyPassword(ctx, "alice", "alice's password"); ok || err != nil {
			t.Fatalf("alice's password after erasure: %v, %v", ok, err)
		}
		if c := env.Count(t); c != 2 {
			t.Fatalf("%d rows after erasing alice, want bob's 2", c)
		}
		bob, err := s.FindForUser(ctx, "bob")
		if err != nil || len(bob) != 2 {
			t.Fatalf("bob after erasing alice: %d rows, %v", len(bob), err)
		}
		sameTokens(t, bob[0], account("b1", "bob", "github", "gh-b"))
		sameTokens(t, bob[1], account("b2", "bob", "google", "alice"))
		if n, err := s.DeleteUser(ctx, "alice"); err != nil || n != 0 {
			t.Fatalf("DeleteUser of an erased user = %d, %v; want 0, nil", n, err)
		}

		var event map[string]any
		for line := range bytes.SplitSeq(logs.Bytes(), []byte("\n")) {
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil && rec["msg"] == "accountvault: user erased" && rec["rows"] == float64(3) {
				event = rec
			}
		}
		if event == nil || event["user_id"] != "alice" || event["table"] != env.Table {
			t.Fatalf("no audit event for the erasure of alice's 3 rows (%d bytes logged)", len(logs.Bytes()))
		}
		noSecretIn(t, "the logs", string(logs.Bytes()), "at-a1", "rt-a1", "it-a1", "at-a2", "rt-a2", "it-a2", "alice's password", hash)
	})
}

// TestRewrapRefusesMissingKeys: a Rewrap whose keyring lacks a key that
// stored values name, or holds it disabled, refuses before writing
// anything, with a *MissingKeysError counting the values per key, and
// reports the key usage it found. Before, Rewrap moved every row it could
// and counted the others as failures, one by one.
func TestRewrapRefusesMissingKeys(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		keyA := k.Primary()
		mustUpsert(t, newStore(t, env, k), account("a1", "u", "github", "a1"))
		mustUpsert(t, newStore(t, env, k), account("a2", "u", "google", "a2"))
		kb := k.Clone() // A decrypt-only, B primary
		keyB, err := kb.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		sb := newStore(t, env, kb)
		mustUpsert(t, sb, account("b1", "u", "gitlab", "b1"))
		kc := kb.Clone() // another replica's keyring, with a key C that kb lacks
		keyC, err := kc.Rotate()
		if err != nil {
			t.Fatal(err)
		}
		mustUpsert(t, newStore(t, env, kc), account("c1", "u", "bitbucket", "c1"))

		snapshot := func() map[string][]byte {
			m := map[string][]byte{}
			for _, id := range []string{"a1", "a2", "b1", "c1"} {
				for _, col := range []string{"access_token", "refresh_token", "id_token"} {
					m[id+"."+col] = env.Raw(t, id, col)
				}
			}
			return m
		}
		unchanged := func(what string, before map[string][]byte) {
			t.Helper()
			for name, v := range snapshot() {
				if !bytes.Equal(v, before[name]) {
					t.Fatalf("%s: %s changed", what, name)
				}
			}
		}

		before := snapshot()
		rep, err := admin(sb).Rewrap(ctx, store.WalkOptions{BatchSize: 1})
		wantErr(t, "Rewrap with key C missing", err, store.ErrMissingKeys)
		var me *store.MissingKeysError
		if !errors.As(err, &me) || len(me.Missing) != 1 || me.Missing[keyC] != 3 || len(me.Disabled) != 0 {
			t.Fatalf("Rewrap: error %v, want key %d missing for 3 values", err, keyC)
		}
		if u := rep.KeyUsage; u[keyA] != 6 || u[keyB] != 3 || u[keyC] != 3 || rep.Rewritten != 0 || rep.Seen != 0 {
			t.Fatalf("Rewrap report: usage %v, %+v; want the usage counted and nothing walked", u, rep.Progress)
		}
		noSecretIn(t, "the error", err.Error(), "at-a1", "at-c1")
		unchanged("the refused Rewrap", before)

		// Key A disabled, C held: refused as well, naming A.
		kd := kc.Clone()
		if err := kd.Disable(keyA); err != nil {
			t.Fatal(err)
		}
		_, err = admin(newStore(t, env, kd)).Rewrap(ctx, store.WalkOptions{})
		if !errors.As(err, &me) || len(me.Missing) != 0 || me.Disabled[keyA] != 6 {
			t.Fatalf("Rewrap with key A disabled: %v, want key %d disabled for 6 values", err, keyA)
		}
		unchanged("the Rewrap refused for a disabled key", before)

		// With every key held, the same Rewrap moves everything onto C.
		// (The keyring with A enabled again is a newer edit than kd: the
		// table's stores have used kd's generation.)
		ke := kd.Clone()
		if err := ke.Enable(keyA); err != nil {
			t.Fatal(err)
		}
		rep, err = admin(newStore(t, env, ke)).Rewrap(ctx, store.WalkOptions{})
		if err != nil || rep.Rewritten != 3 || rep.Failed != 0 {
			t.Fatalf("Rewrap with every key: %+v, %v", rep.Progress, err)
		}
	})
}

// laterKeys are keys that claim generation gen: Keys that are not a
// *keyring.KEK, which Reload compares by generation alone.
type laterKeys struct {
	*keyring.KEK
	gen uint64
}

func (k laterKeys) Generation() uint64 { return k.gen }
