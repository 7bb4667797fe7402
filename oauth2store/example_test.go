package oauth2store_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/sqlite"
	"github.com/accountvault/accountvault/keyring"
	"github.com/accountvault/accountvault/oauth2store"
	"github.com/accountvault/accountvault/store"
)

// Example refreshes an expired token of a linked account and stores the
// new pair. The provider's token endpoint is a stand-in that rotates the
// refresh token on every refresh. In production the keyring comes from
// keyring.LoadFile, and the database is shared by every replica.
func Example() {
	var refreshes atomic.Int64
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := refreshes.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"access-%d","refresh_token":"refresh-%d","token_type":"Bearer","expires_in":3600}`, n, n)
	}))
	defer provider.Close()

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

	// An account linked an hour ago: its access token has expired.
	expired := time.Now().Add(-time.Minute)
	_, err = s.Upsert(ctx, accountvault.Account{
		ID: "acc_1", UserID: "user_1", ProviderID: "example", AccountID: "subject-1",
		AccessToken:          accountvault.NewSecret("access-0"),
		RefreshToken:         accountvault.NewSecret("refresh-0"),
		AccessTokenExpiresAt: &expired,
	})
	if err != nil {
		log.Fatal(err)
	}

	cfg := &oauth2.Config{ClientID: "client", Endpoint: oauth2.Endpoint{TokenURL: provider.URL + "/token"}}
	src, err := oauth2store.New(ctx, s, cfg, "example", "subject-1")
	if err != nil {
		log.Fatal(err)
	}
	for range 3 { // one refresh, then the stored token from memory
		tok, err := src.Token()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("valid:", tok.Valid())
	}
	fmt.Println("refreshes:", refreshes.Load())

	// The new pair is stored, sealed: every replica reads it.
	got, err := s.FindByProvider(ctx, "example", "subject-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored refresh token rotated:", got.RefreshToken.Reveal() == "refresh-1")
	// Output:
	// valid: true
	// valid: true
	// valid: true
	// refreshes: 1
	// stored refresh token rotated: true
}
