package store_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/crypto/betterauth"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// ExampleAdmin_EncryptLegacy adopts a live better-auth deployment whose
// tokens better-auth encrypted (encryptOAuthTokens): a copy of a database
// better-auth 1.7.25 wrote (testdata/betterauth, test values only). Adopt
// converts better-auth's camelCase table in place; EncryptLegacy opens each
// better-auth ciphertext with the deployment's secret and seals the token
// inside. The CLI's `accountvault migrate` runs the same two steps, with the
// secret read from BETTER_AUTH_SECRET.
func ExampleAdmin_EncryptLegacy() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "adopt")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "better-auth.sqlite")
	if err := copyFile(path, "../testdata/betterauth/sqlite-single.sqlite"); err != nil {
		log.Fatal(err)
	}

	// Back up the database first (SECURITY.md, Adopting an existing
	// plaintext database): the conversion is the way in, the backup the
	// way back.
	db, err := sqlite.Open(path, sqlite.WithTable("account"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Adopt(ctx); err != nil {
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
	// In production: betterauth.Parse(os.Getenv("BETTER_AUTH_SECRETS"),
	// os.Getenv("BETTER_AUTH_SECRET")).
	secrets, err := betterauth.Parse("", "fixture-single-secret-3f9a1c6e8b2d4f70a5c1e9b3d7f2a6c4")
	if err != nil {
		log.Fatal(err)
	}
	s, err := store.New(db, keys, store.WithTable("account"),
		store.WithLegacyPlaintext(), store.WithBetterAuthSecrets(secrets))
	if err != nil {
		log.Fatal(err)
	}
	rep, err := store.NewAdmin(s).EncryptLegacy(ctx, store.WalkOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("rows %d, values sealed %d, opened from better-auth ciphertext %d, failed %d, finished %v\n",
		rep.Seen, rep.Sealed, rep.BetterAuth, rep.Failed, rep.Finished)

	// The application's store, without the adoption options now.
	s, err = store.New(db, keys, store.WithTable("account"))
	if err != nil {
		log.Fatal(err)
	}
	a, err := s.FindByProvider(ctx, "acme", "acme-sub-dave")
	if err != nil {
		log.Fatal(err)
	}
	// The token better-auth was given (a test value), not its ciphertext;
	// a real application never prints a token.
	fmt.Println("dave's access token opens:", a.AccessToken.Equal(accountvault.NewSecret("ya29.a0AfB_fixture-dave-access-1")))
	// Output:
	// rows 10, values sealed 17, opened from better-auth ciphertext 13, failed 0, finished true
	// dave's access token opens: true
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
