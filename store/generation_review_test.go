package store_test

// Adversarial review of the first-use keyring check and the recorded
// keyring generation (review of 56a5e35..f7390d1, items 2 and 3).

import (
	"database/sql"
	"testing"

	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/internal/avtest"
	"github.com/accountvault/accountvault/store"
)

// TestReviewReadOnlyReplicaAfterStage: verify treats writing the
// key-check value as best effort ("a read-only connection ... only means
// the next check samples rows again"), but raiseGeneration's write is
// not: after a legitimate edit of the keyring (here `keys stage`, the
// first step of every rotation), a store on a connection that cannot
// write accountvault_meta (a read-only SQLite handle, a Postgres hot
// standby, a role granted SELECT only) fails every call, although its
// keyring opens the data and is newer than the record. Before the change
// such a store served reads.
func TestReviewReadOnlyReplicaAfterStage(t *testing.T) {
	env := avtest.New(t, "sqlite")
	k := genKeyring(t)
	s := newStore(t, env, k)
	want := mustUpsert(t, s, account("r1", "u", "github", "r1")) // records generation 1
	if _, err := k.Stage(); err != nil {                         // generation 2
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", "file:"+env.DBFile+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ro, err := sqlite.New(db)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := store.New(ro, kekOf(t, k), store.WithPasswordHasher(testHasher(t)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := reader.FindByProvider(ctx, "github", "r1")
	if err != nil {
		t.Fatalf("read-only store with the staged (newer, right) keyring: %v", err)
	}
	sameTokens(t, got, want)
}
