package keyring_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/accountvault/accountvault/keyring"
)

// Example makes a keyring, stages and promotes a new key (the two steps of
// a rotation across replicas), saves it encrypted under a master key, and
// loads it back. In production the master key comes from a KMS, or from
// keyring.MasterKeyFromEnv, and `accountvault keys` does these edits.
func Example() {
	dir, err := os.MkdirTemp("", "keyring-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "keyring.json")

	encoded, err := keyring.NewMasterKey() // base64 of 32 random bytes
	if err != nil {
		log.Fatal(err)
	}
	master, err := keyring.ParseMasterKey(encoded)
	if err != nil {
		log.Fatal(err)
	}

	k, err := keyring.Generate()
	if err != nil {
		log.Fatal(err)
	}
	first := k.Primary()
	next, err := k.Stage() // replicas reload: they can unwrap with it already
	if err != nil {
		log.Fatal(err)
	}
	if err := k.Promote(next); err != nil { // new writes use it from now on
		log.Fatal(err)
	}
	if err := k.SaveFile(path, master); err != nil {
		log.Fatal(err)
	}

	loaded, err := keyring.LoadFile(path, master)
	if err != nil {
		log.Fatal(err)
	}
	for _, ki := range loaded.Keys() {
		role := "next"
		if ki.ID == first {
			role = "first"
		}
		fmt.Println(role, ki.Status)
	}
	fmt.Println("generation", loaded.Generation())
	kek, err := loaded.KEK() // the immutable primitive a store seals with
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(kek.PrimaryID() == next)
	// Output:
	// first decrypt-only
	// next primary
	// generation 3
	// true
}
