package gothstore_test

import (
	"context"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/markbates/goth/providers/gitlab"

	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/gothstore"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/store"
)

// Example stores a GitLab login made with goth and refreshes its access
// token. A local stand-in for gitlab.com's OAuth endpoints plays the
// provider.
func Example() {
	ctx := context.Background()

	// An accountvault store on a SQLite file, with a fresh keyring
	// (an application loads its keyring: see package store).
	dir, err := os.MkdirTemp("", "gothstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "accounts.db"))
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

	// goth's GitLab provider, pointed at the stand-in.
	gl := startTokenServer()
	defer gl.Close()
	provider := gitlab.NewCustomisedURL("client-id", "client-secret", "https://app.example/auth/gitlab/callback",
		gl.URL+"/oauth/authorize", gl.URL+"/oauth/token", gl.URL+"/api/v4/user", "read_user")

	// The OAuth callback: gothic.CompleteUserAuth does these steps and
	// returns the goth.User.
	sess, err := provider.BeginAuth("state")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := sess.Authorize(provider, url.Values{"code": {"the-code"}}); err != nil {
		log.Fatal(err)
	}
	gu, err := provider.FetchUser(sess)
	if err != nil {
		log.Fatal(err)
	}

	// The stand-in's access tokens last an hour. For the example only,
	// pretend that the hour has passed, so that Refresh has work to do.
	gu.ExpiresAt = time.Now().Add(-time.Minute)

	// Link the GitLab identity to the application's user "user_1".
	acct, err := gothstore.Save(ctx, s, "user_1", gu, gothstore.WithScope("read_user"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("linked:", acct.UserID, acct.ProviderID, acct.AccountID, acct.AccessToken)

	// Later, before calling GitLab's API on user_1's behalf.
	fresh, err := gothstore.Refresh(ctx, s, provider, acct.AccountID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refreshed:", !fresh.AccessToken.Equal(acct.AccessToken))
	stored, err := s.FindByProvider(ctx, "gitlab", acct.AccountID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored:", stored.AccessToken.Equal(fresh.AccessToken))
	// Output:
	// linked: user_1 gitlab 4242 [REDACTED]
	// refreshed: true
	// stored: true
}
