package betterauth_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/accountvault/accountvault/crypto/betterauth"
)

// Opening the stored tokens of a deployment that moved from one secret to
// versioned secrets. In a tool, the two settings come from the
// environment: os.Getenv("BETTER_AUTH_SECRETS"), os.Getenv("BETTER_AUTH_SECRET").
func Example() {
	secrets, err := betterauth.Parse(
		"2:"+secV2+",1:"+secV1, // BETTER_AUTH_SECRETS: current first
		secLegacy,              // BETTER_AUTH_SECRET: opens bare values
	)
	if err != nil {
		log.Fatal(err)
	}
	for _, stored := range []string{
		// Written by better-auth 1.7.25 (testdata/betterauth, user bob).
		"$ba$2$68bc8a5ed5f80945cc48e4d78eeca03798487f3142e2286c39e0262e72cd232db654b5a0e1c0ab3442f269cc44951e7b783699b3dc9e6b62c7a9d8bac909002cb5bcb82ac9c9a9",
		"ya29.a0AfB_token-stored-before-encryption-was-on",
		// A secret version this tool was not given.
		"$ba$3$68bc8a5ed5f80945cc48e4d78eeca03798487f3142e2286c39e0262e72cd232db654b5a0e1c0ab3442f269cc44951e7b783699b3dc9e6b62c7a9d8bac909002cb5bcb82ac9c9a9",
		// The same ciphertext, altered in its last digit.
		"$ba$2$68bc8a5ed5f80945cc48e4d78eeca03798487f3142e2286c39e0262e72cd232db654b5a0e1c0ab3442f269cc44951e7b783699b3dc9e6b62c7a9d8bac909002cb5bcb82ac9c9a8",
	} {
		token, err := secrets.Open([]byte(stored))
		switch {
		case err == nil:
			fmt.Printf("opened a %d-byte token\n", len(token))
		case errors.Is(err, betterauth.ErrNotBetterAuth):
			fmt.Println("not better-auth ciphertext: a plaintext token")
		case errors.Is(err, betterauth.ErrNoSecret):
			fmt.Println("needs a secret that is not configured:", err)
		default:
			fmt.Println("does not open:", err)
		}
	}
	// Output:
	// opened a 31-byte token
	// not better-auth ciphertext: a plaintext token
	// needs a secret that is not configured: betterauth: $ba$ value of secret version 3 does not open: no secret of this version is configured
	// does not open: betterauth: $ba$ value of secret version 2 does not open: authentication failed
}
