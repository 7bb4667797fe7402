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

// ExampleWithoutPasswordUpgrade verifies a password against the scrypt hash
// better-auth wrote at sign-up (a test value from testdata/betterauth), on
// a table that better-auth still serves logins from: the hash stays as it
// was, so better-auth can still verify it.
func ExampleWithoutPasswordUpgrade() {
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
	s, err := store.New(db, keys, store.WithoutPasswordUpgrade())
	if err != nil {
		log.Fatal(err)
	}

	const betterAuthHash = "fbc0eb312e562e69daf701e26ac3d172:80b47c833340716fe1c53c53de1fd4a7" +
		"f7b25204e41eb5878d8109bc0a83bb123c2380b0580cf540c951be6e07cd8505acdb44c3cc05dc30e33f9ff9ee5f76a2"
	_, err = s.Upsert(ctx, accountvault.Account{
		ID: "cred_1", UserID: "user_1", ProviderID: accountvault.ProviderCredential, AccountID: "user_1",
		Password: accountvault.NewSecret(betterAuthHash),
	})
	if err != nil {
		log.Fatal(err)
	}
	ok, err := s.VerifyPassword(ctx, "user_1", "correct horse battery staple")
	fmt.Println(ok, err)

	row, err := db.FindByProvider(ctx, accountvault.ProviderCredential, "user_1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("hash unchanged:", row.Password.Reveal() == betterAuthHash)
	// Output:
	// true <nil>
	// hash unchanged: true
}
