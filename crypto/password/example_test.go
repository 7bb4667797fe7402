package password_test

import (
	"context"
	"fmt"
	"log"

	"github.com/accountvault/accountvault/crypto/password"
)

func Example() {
	ctx := context.Background()
	// One Hasher per process. OWASPPolicy keeps this example quick;
	// password.New() alone uses DefaultPolicy.
	h, err := password.New(password.WithPolicy(password.OWASPPolicy()), password.WithConcurrency(4))
	if err != nil {
		log.Fatal(err)
	}

	stored, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		log.Fatal(err)
	}

	match, needsUpgrade, err := h.Verify(ctx, "correct horse battery staple", stored)
	fmt.Println(match, needsUpgrade, err)

	// A better-auth scrypt hash verifies, and asks to be replaced.
	legacy := "669dad2aafab972a853c6f04d5d39c9a:6a999966df5c8ac4d19a3c7aae52a959b90414f4e2906f397537cac467abbc3db3a711f7edc007380ad565fc8791948efb9e989e9cf5bfa63694d0c21a21e960"
	match, needsUpgrade, err = h.Verify(ctx, "password", legacy)
	fmt.Println(match, needsUpgrade, err)

	// A plaintext password is not a hash.
	fmt.Println(h.Recognized(stored), h.Recognized("hunter2"))

	// An unknown user: the same work as a wrong password.
	fmt.Println(h.VerifyDummy(ctx, "guess"))
	// Output:
	// true false <nil>
	// true true <nil>
	// true false
	// <nil>
}
