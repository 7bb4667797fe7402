package store_test

import (
	"context"
	"fmt"
	"log"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// ExampleAdmin rotates the key-encryption key of a table online: promote a
// new key, reload the store, rewrap the old rows onto it, check that no
// value names the old key any more, and ask whether it may be retired.
func ExampleAdmin() {
	ctx := context.Background()
	db, err := sqlite.Open(":memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	kr, err := keyring.Generate()
	if err != nil {
		log.Fatal(err)
	}
	keys, err := kr.KEK()
	if err != nil {
		log.Fatal(err)
	}
	s, err := store.New(db, keys)
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{"1", "2", "3"} {
		if _, err := s.Upsert(ctx, accountvault.Account{ID: "acc_" + id, UserID: "user_" + id, ProviderID: "github",
			AccountID: id, AccessToken: accountvault.NewSecret("gho_" + id)}); err != nil {
			log.Fatal(err)
		}
	}

	old := kr.Primary()
	if _, err := kr.Rotate(); err != nil { // stage and promote in one step
		log.Fatal(err)
	}
	if keys, err = kr.KEK(); err != nil {
		log.Fatal(err)
	}
	if err := s.Reload(keys); err != nil {
		log.Fatal(err)
	}

	admin := store.NewAdmin(s)
	rep, err := admin.Rewrap(ctx, store.WalkOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("rewrapped", rep.Rewritten, "failed", rep.Failed)
	check, err := admin.Check(ctx, store.WalkOptions{})
	if err != nil {
		log.Fatal(err)
	}
	sealed, legacy, failed := check.Totals()
	fmt.Println("sealed", sealed, "legacy", legacy, "failed", failed, "on the old key", check.KeyUsage()[old])
	if err := admin.CheckRetire(ctx, old, store.WalkOptions{}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(kr.Disable(old)) // the caller edits, saves and reloads its keyring
	// Output:
	// rewrapped 3 failed 0
	// sealed 3 legacy 0 failed 0 on the old key 0
	// <nil>
}

// ExampleStore_DeleteUser erases a user: every linked identity and the
// password, in one transaction. SECURITY.md ("Erasing a user") says what
// erasure does not reach (backups, the providers).
func ExampleStore_DeleteUser() {
	ctx := context.Background()
	db, err := sqlite.Open(":memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	kr, err := keyring.Generate()
	if err != nil {
		log.Fatal(err)
	}
	keys, err := kr.KEK()
	if err != nil {
		log.Fatal(err)
	}
	s, err := store.New(db, keys)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range []string{"github", "google"} {
		if _, err := s.Upsert(ctx, accountvault.Account{ID: "acc_" + p, UserID: "user_1", ProviderID: p,
			AccountID: p + "-1", AccessToken: accountvault.NewSecret("token-" + p)}); err != nil {
			log.Fatal(err)
		}
	}
	n, err := s.DeleteUser(ctx, "user_1")
	fmt.Println(n, err)
	rows, err := s.FindForUser(ctx, "user_1")
	fmt.Println(len(rows), err)
	// Output:
	// 2 <nil>
	// 0 <nil>
}
