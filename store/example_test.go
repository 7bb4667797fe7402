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

// Example links an account on an embedded SQLite database, reads it back,
// and checks a password. In production the keyring comes from
// keyring.LoadFile under a KMS or environment master key.
func Example() {
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
	keys, err := kr.KEK() // the keyring's immutable primitive, shared by every request
	if err != nil {
		log.Fatal(err)
	}
	s, err := store.New(db, keys)
	if err != nil {
		log.Fatal(err)
	}

	_, err = s.Upsert(ctx, accountvault.Account{
		ID: "acc_1", UserID: "user_1", ProviderID: "github", AccountID: "12345",
		AccessToken: accountvault.NewSecret("gho_example"),
	})
	if err != nil {
		log.Fatal(err)
	}
	got, err := s.FindByProvider(ctx, "github", "12345")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.AccessToken)          // a Secret prints redacted
	fmt.Println(got.AccessToken.Reveal()) // the plaintext, on purpose

	if err := s.SetPassword(ctx, "user_1", "correct horse battery staple"); err != nil {
		log.Fatal(err)
	}
	ok, err := s.VerifyPassword(ctx, "user_1", "correct horse battery staple")
	fmt.Println(ok, err)
	// Output:
	// [REDACTED]
	// gho_example
	// true <nil>
}
