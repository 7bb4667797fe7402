package store_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// insertGarbage writes n rows with raw SQL, as a database writer could:
// ids "0garbage-NNN", which sort before every id of the tests, and in each
// token column a copy of template (a real sealed value) naming a random
// key id that keys do not hold. It returns those key ids.
func insertGarbage(t *testing.T, env *avtest.Env, n int, template []byte, keys []uint32) map[uint32]bool {
	t.Helper()
	const perInsert = 100
	ids := map[uint32]bool{}
	for start := 0; start < n; start += perInsert {
		var q strings.Builder
		q.WriteString(`INSERT INTO {t} (id, user_id, provider_id, account_id, access_token, refresh_token, id_token, created_at, updated_at) VALUES `)
		var args []any
		for i := start; i < min(start+perInsert, n); i++ {
			if i > start {
				q.WriteString(", ")
			}
			p := len(args)
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, 1700000000, 1700000000)", p+1, p+2, p+3, p+4, p+5, p+6, p+7)
			v := append([]byte(nil), template...)
			id := uint32(i+1)*0x9e3779b1 | 1 // distinct for each i, never 0
			for slices.Contains(keys, id) {
				id += 2
			}
			binary.BigEndian.PutUint32(v[4:8], id)
			ids[id] = true
			gid := fmt.Sprintf("0garbage-%03d", i)
			args = append(args, gid, "mallory", "garbage", gid, v, v, v)
		}
		env.Exec(t, q.String(), args...)
	}
	return ids
}

// TestKeyCheckSurvivesGarbageRows: a database writer who inserts many rows
// of sealed-looking garbage, under key ids nobody holds, with ids that sort
// before every real row, cannot make the first-use keyring check fail for
// the right keyring (issue 9, item 8): the check opens the table's
// key-check value first. A wrong keyring still fails. Without the
// key-check value (a backend that keeps no metadata), the same rows do
// make the right keyring look wrong: the sample of the first rows is all
// garbage. That was every backend before.
func TestKeyCheckSurvivesGarbageRows(t *testing.T) {
	avtest.Each(t, func(t *testing.T, env *avtest.Env) {
		k := genKeyring(t)
		s := newStore(t, env, k)
		for _, id := range []string{"r1", "r2", "r3"} {
			mustUpsert(t, s, account(id, "u", "github", id))
		}
		m, ok := env.Backend.(accountvault.Metadata)
		if !ok {
			t.Fatalf("the %s backend keeps no metadata", env.Name)
		}
		if _, err := m.Meta(ctx, "keycheck"); err != nil {
			t.Fatalf("no key-check value after the store's first use: %v", err)
		}
		const garbage = 500
		bad := insertGarbage(t, env, garbage, env.Raw(t, "r1", "access_token"), kekOf(t, k).KeyIDs())
		if page, err := env.Backend.List(ctx, "", 100); err != nil || len(page) != 100 || !strings.HasPrefix(page[99].ID, "0garbage-") {
			t.Fatalf("the first 100 rows are not all garbage (%d rows, %v): the test proves nothing", len(page), err)
		}

		// The right keyring: a new store serves, and the check passes.
		fresh := newStore(t, env, k)
		sameTokens(t, mustFind(t, fresh, "github", "r2"), account("r2", "u", "github", "r2"))
		if err := admin(newStore(t, env, k)).CheckKeyring(ctx); err != nil {
			t.Fatalf("CheckKeyring with the right keyring: %v", err)
		}
		// The garbage is visible to the operator.
		rep, err := admin(fresh).Check(ctx, store.WalkOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sealed, _, failed := rep.Totals(); sealed != 9 || failed != 3*garbage {
			t.Fatalf("Check: %d sealed, %d failed; want 9 and %d", sealed, failed, 3*garbage)
		}
		usage := rep.KeyUsage()
		for id := range bad {
			if usage[id] == 0 {
				t.Fatalf("Check does not count the garbage under key %d", id)
			}
		}

		// A wrong keyring still fails, at first use and in CheckKeyring.
		wrong := newStore(t, env, genKeyring(t))
		_, err = wrong.FindByProvider(ctx, "github", "r1")
		wantErr(t, "first use with a wrong keyring", err, store.ErrWrongKeyring)
		wantErr(t, "CheckKeyring with a wrong keyring", admin(wrong).CheckKeyring(ctx), store.ErrWrongKeyring)

		// Why the key-check value exists: without it, the sample is all
		// garbage and the right keyring is refused.
		hidden, err := store.New(struct{ accountvault.Backend }{env.Backend}, kekOf(t, k),
			store.WithTable(env.Table), store.WithPasswordHasher(testHasher(t)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = hidden.FindByProvider(ctx, "github", "r1")
		wantErr(t, "right keyring, no key-check value, garbage rows first", err, store.ErrWrongKeyring, accountvault.ErrUnknownKey)
		if !envelope.IsSealed(env.Raw(t, "0garbage-000", "access_token")) {
			t.Fatal("the garbage does not look sealed")
		}
	})
}
