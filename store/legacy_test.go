package store_test

// Legacy plaintext is decided by the table's adoption state, the row and
// the value (issue 9, items 1 and 2): a database writer who plants a
// plaintext token, or corrupts a sealed value's prefix, gets it sealed by
// nobody, opened by nobody, and reported by Check.

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// legacyState returns the table's adoption marker: "open" while it is
// being adopted, "" once adoption has finished (or never started).
func legacyState(t *testing.T, env *avtest.Env) string {
	t.Helper()
	m, ok := env.Backend.(accountvault.Metadata)
	if !ok {
		t.Fatalf("the %s backend keeps no metadata", env.Name)
	}
	v, err := m.Meta(ctx, "legacy")
	if errors.Is(err, accountvault.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("Meta(legacy): %v", err)
	}
	return string(v)
}

// wantRowFailure fails t unless failures holds exactly one failure per
// (row, column) of want, each matching target.
func wantRowFailure(t *testing.T, what string, failures []*accountvault.RowError, target error, want ...[2]string) {
	t.Helper()
	if len(failures) != len(want) {
		t.Fatalf("%s: %d failures %v, want %d", what, len(failures), failures, len(want))
	}
	for _, w := range want {
		found := false
		for _, f := range failures {
			if f.ID == w[0] && f.Column == w[1] {
				found = true
				if !errors.Is(f, target) {
					t.Fatalf("%s: row %s %s fails with %v, want %v", what, w[0], w[1], f, target)
				}
			}
		}
		if !found {
			t.Fatalf("%s: no failure names row %s column %s (failures: %v)", what, w[0], w[1], failures)
		}
	}
}

// TestPlantedToken: once adoption has finished, a plaintext token written
// into a row with raw SQL is a failure that Check reports and
// EncryptLegacy never seals, and legacy-read mode is refused; during
// adoption, a plaintext value planted beside a row's sealed values is not
// sealed either.
//
// Before issue 9, the planted value counted as legacy plaintext because
// its first byte is not the sealed prefix: Check counted it as legacy
// ("run migrate"), EncryptLegacy sealed it under the victim's binding, and
// WithLegacyPlaintext returned it to the application.
func TestPlantedToken(t *testing.T) {
	const planted = "ya29.attacker-token"
	t.Run("after adoption", func(t *testing.T) {
		eachAdopted(t, []avtest.Legacy{
			{ID: "victim", UserID: "alice", ProviderID: "github", AccountID: "gh-a", AccessToken: "at-victim", RefreshToken: "rt-victim"},
			{ID: "solo", UserID: "bob", ProviderID: "github", AccountID: "gh-b", AccessToken: "at-solo"},
		}, func(t *testing.T, env *avtest.Env) {
			k := genKeyring(t)
			s := newStore(t, env, k)
			a := admin(s)
			reader := newStore(t, env, k, store.WithLegacyPlaintext())
			if got := mustFind(t, reader, "github", "gh-a"); !is(got.AccessToken, "at-victim") {
				t.Fatal("legacy-read mode did not return the legacy token")
			}
			rep, err := a.EncryptLegacy(ctx, store.WalkOptions{BatchSize: 1})
			if err != nil || rep.Failed != 0 || rep.Sealed != 3 || !rep.Finished {
				t.Fatalf("EncryptLegacy: %+v, %v; want 3 values sealed and the adoption finished", rep, err)
			}
			if st := legacyState(t, env); st != "" {
				t.Fatalf("adoption marker %q after a finished EncryptLegacy", st)
			}

			// The attack: the victim's access token, in a row that holds a
			// sealed refresh token; and bob's, in a row that holds no
			// other value (unexpected only because adoption has finished).
			env.SetRaw(t, "victim", "access_token", []byte(planted))
			env.SetRaw(t, "solo", "access_token", []byte(planted))
			before := map[string][]byte{}
			for _, id := range []string{"victim", "solo"} {
				before[id] = env.Raw(t, id, "access_token")
			}
			victimRT := env.Raw(t, "victim", "refresh_token")

			check, err := a.Check(ctx, store.WalkOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sealed, legacy, failed := check.Totals()
			if check.LegacyOpen || legacy != 0 || failed != 2 || sealed != 1 || check.Columns[envelope.AccessToken].Unexpected != 2 {
				t.Fatalf("Check: legacy open %v, %d sealed, %d legacy, %d failed, access_token %+v; want the 2 planted values as unexpected failures",
					check.LegacyOpen, sealed, legacy, failed, check.Columns[envelope.AccessToken])
			}
			wantRowFailure(t, "Check", check.Failures, accountvault.ErrUnexpectedPlaintext,
				[2]string{"victim", "access_token"}, [2]string{"solo", "access_token"})

			el, err := a.EncryptLegacy(ctx, store.WalkOptions{})
			if err != nil || el.Failed != 2 || el.Sealed != 0 || el.Rewritten != 0 || el.Finished {
				t.Fatalf("EncryptLegacy over planted values: %+v, %v; want 2 failing rows, nothing sealed", el, err)
			}
			wantRowFailure(t, "EncryptLegacy", el.Failures, accountvault.ErrUnexpectedPlaintext,
				[2]string{"victim", "access_token"}, [2]string{"solo", "access_token"})
			for id, v := range before {
				if !bytes.Equal(env.Raw(t, id, "access_token"), v) {
					t.Fatalf("EncryptLegacy changed the planted value of row %s", id)
				}
			}
			if !bytes.Equal(env.Raw(t, "victim", "refresh_token"), victimRT) {
				t.Fatal("EncryptLegacy changed the victim's sealed refresh token")
			}

			// Legacy-read mode is refused on the finished table, at first
			// use...
			late := newStore(t, env, k, store.WithLegacyPlaintext())
			_, err = late.FindByProvider(ctx, "github", "gh-a")
			wantErr(t, "legacy-read store opened after the adoption", err, store.ErrLegacyClosed)
			wantErr(t, "CheckKeyring of that store", admin(late).CheckKeyring(ctx), store.ErrLegacyClosed)
			// ...and a legacy-read store started during the adoption no
			// longer returns plaintext.
			for _, acct := range []string{"gh-a", "gh-b"} {
				_, err = reader.FindByProvider(ctx, "github", acct)
				wantErr(t, "legacy-read store started before the end of the adoption", err, accountvault.ErrUnexpectedPlaintext)
			}
			_, err = s.FindByProvider(ctx, "github", "gh-a")
			wantErr(t, "default store", err, accountvault.ErrLegacyPlaintext)
		})
	})

	t.Run("during adoption", func(t *testing.T) {
		eachAdopted(t, []avtest.Legacy{
			{ID: "l1", UserID: "carol", ProviderID: "gitlab", AccountID: "gl-c", AccessToken: "at-l1"},
		}, func(t *testing.T, env *avtest.Env) {
			k := genKeyring(t)
			s := newStore(t, env, k)
			a := admin(s)
			mustUpsert(t, s, account("w", "alice", "github", "gh-a")) // sealed by the store
			env.SetRaw(t, "w", "access_token", []byte(planted))
			before := env.Raw(t, "w", "access_token")

			reader := newStore(t, env, k, store.WithLegacyPlaintext())
			if got := mustFind(t, reader, "gitlab", "gl-c"); !is(got.AccessToken, "at-l1") {
				t.Fatal("legacy-read mode did not return the legacy token")
			}
			_, err := reader.FindByProvider(ctx, "github", "gh-a")
			wantErr(t, "legacy-read of the planted value", err, accountvault.ErrUnexpectedPlaintext)

			check, err := a.Check(ctx, store.WalkOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, legacy, failed := check.Totals(); !check.LegacyOpen || legacy != 1 || failed != 1 {
				t.Fatalf("Check: legacy open %v, %d legacy, %d failed; want 1 legacy value and the planted one failing", check.LegacyOpen, legacy, failed)
			}
			wantRowFailure(t, "Check", check.Failures, accountvault.ErrUnexpectedPlaintext, [2]string{"w", "access_token"})

			rep, err := a.EncryptLegacy(ctx, store.WalkOptions{})
			if err != nil || rep.Sealed != 1 || rep.Rewritten != 1 || rep.Failed != 1 || rep.Finished {
				t.Fatalf("EncryptLegacy: %+v, %v; want l1 sealed and w failing", rep, err)
			}
			wantRowFailure(t, "EncryptLegacy", rep.Failures, accountvault.ErrUnexpectedPlaintext, [2]string{"w", "access_token"})
			if !bytes.Equal(env.Raw(t, "w", "access_token"), before) {
				t.Fatal("EncryptLegacy sealed the value planted beside sealed values")
			}
			if !envelope.IsSealed(env.Raw(t, "l1", "access_token")) {
				t.Fatal("EncryptLegacy did not seal the legacy row")
			}
			if st := legacyState(t, env); st != "open" {
				t.Fatalf("adoption marker %q after a run with a failure, want it still open", st)
			}
		})
	})
}

// TestDamagedOrBinaryNotSealed: in a table still being adopted, a sealed
// value whose first byte was flipped, and unsealed values that are not text
// (invalid UTF-8, a NUL byte), in rows that hold no sealed value, are not
// sealed by EncryptLegacy: each is a failure of its row, and the bytes stay
// as they were. Before issue 9 they were sealed as if they were tokens, and
// opened to binary garbage.
func TestDamagedOrBinaryNotSealed(t *testing.T) {
	eachAdopted(t, []avtest.Legacy{
		{ID: "text", UserID: "u", ProviderID: "p", AccountID: "text", AccessToken: "ya29.legacy"},
		{ID: "nul", UserID: "u", ProviderID: "p", AccountID: "nul", AccessToken: "placeholder"},
		{ID: "binary", UserID: "u", ProviderID: "p", AccountID: "binary", AccessToken: "placeholder"},
	}, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		s := newStore(t, env, k)
		a := account("damaged", "u", "p", "damaged")
		a.RefreshToken, a.IDToken = accountvault.Secret{}, accountvault.Secret{}
		mustUpsert(t, s, a)
		v := env.Raw(t, "damaged", "access_token")
		v[0] ^= 0x01 // the magic byte: the value no longer claims to be sealed
		env.SetRaw(t, "damaged", "access_token", v)
		env.SetRaw(t, "nul", "access_token", []byte("ya29.to\x00ken"))
		env.SetRaw(t, "binary", "access_token", []byte{0xff, 0xfe, 'y', 'a', 0x80})
		before := map[string][]byte{}
		for _, id := range []string{"damaged", "nul", "binary"} {
			before[id] = env.Raw(t, id, "access_token")
		}

		rep, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{})
		if err != nil || rep.Sealed != 1 || rep.Rewritten != 1 || rep.Failed != 3 || rep.Finished {
			t.Fatalf("EncryptLegacy: %+v, %v; want the text token sealed and 3 failing rows", rep, err)
		}
		wantRowFailure(t, "EncryptLegacy", rep.Failures, accountvault.ErrUnexpectedPlaintext,
			[2]string{"damaged", "access_token"}, [2]string{"nul", "access_token"}, [2]string{"binary", "access_token"})
		for id, v := range before {
			if !bytes.Equal(env.Raw(t, id, "access_token"), v) {
				t.Errorf("EncryptLegacy changed the value of row %s", id)
			}
		}
		if got := mustFind(t, s, "p", "text"); !is(got.AccessToken, "ya29.legacy") {
			t.Fatal("the text token did not survive sealing")
		}

		check, err := admin(s).Check(ctx, store.WalkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, legacy, failed := check.Totals(); legacy != 0 || failed != 3 || check.Columns[envelope.AccessToken].Unexpected != 3 {
			t.Fatalf("Check: %d legacy, %d failed, access_token %+v; want 3 unexpected", legacy, failed, check.Columns[envelope.AccessToken])
		}
		reader := newStore(t, env, k, store.WithLegacyPlaintext())
		for _, acct := range []string{"damaged", "nul", "binary"} {
			_, err := reader.FindByProvider(ctx, "p", acct)
			wantErr(t, "legacy-read of row "+acct, err, accountvault.ErrUnexpectedPlaintext)
		}
	})
}

// legacyWriter is a backend whose first CompareAndSwap of row id is
// preceded by write, as if the adopted application, still running, had
// refreshed the row's plaintext token between EncryptLegacy's read and its
// swap.
type legacyWriter struct {
	accountvault.Backend
	accountvault.Metadata
	id    string
	once  sync.Once
	write func()
}

func (b *legacyWriter) CompareAndSwap(ctx context.Context, old, new accountvault.SealedRow) error {
	if old.ID == b.id {
		b.once.Do(b.write)
	}
	return b.Backend.CompareAndSwap(ctx, old, new)
}

// TestEncryptLegacyConflictDoesNotFinish: a row that a concurrent write
// changed first is left to that write, and that write may be the adopted
// application's, in plaintext. A run with a conflict must not declare the
// adoption finished: the row would then be unexpected plaintext that
// nothing may seal or open.
func TestEncryptLegacyConflictDoesNotFinish(t *testing.T) {
	eachAdopted(t, []avtest.Legacy{
		{ID: "l1", UserID: "u1", ProviderID: "github", AccountID: "gh-1", AccessToken: "at-l1"},
		{ID: "l2", UserID: "u2", ProviderID: "github", AccountID: "gh-2", AccessToken: "at-l2"},
	}, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		lw := &legacyWriter{Backend: env.Backend, Metadata: env.Backend.(accountvault.Metadata), id: "l1", write: func() {
			env.SetRaw(t, "l1", "access_token", []byte("at-l1-refreshed"))
		}}
		racy, err := store.New(lw, kekOf(t, k), store.WithTable(env.Table), store.WithPasswordHasher(testHasher(t)))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := admin(racy).EncryptLegacy(ctx, store.WalkOptions{})
		if err != nil || rep.Conflicts != 1 || rep.Rewritten != 1 || rep.Failed != 0 {
			t.Fatalf("EncryptLegacy: %+v, %v; want l1 lost to the concurrent write, l2 sealed", rep, err)
		}
		if rep.Finished || legacyState(t, env) != "open" {
			t.Fatalf("a run that lost a row to a concurrent write finished the adoption (Finished %v, marker %q)", rep.Finished, legacyState(t, env))
		}
		s := newStore(t, env, k)
		rep, err = admin(s).EncryptLegacy(ctx, store.WalkOptions{})
		if err != nil || rep.Rewritten != 1 || rep.Failed != 0 || !rep.Finished {
			t.Fatalf("second EncryptLegacy: %+v, %v; want l1 sealed and the adoption finished", rep, err)
		}
		if got := mustFind(t, s, "github", "gh-1"); !is(got.AccessToken, "at-l1-refreshed") {
			t.Fatal("the concurrent write's token was lost")
		}
	})
}
