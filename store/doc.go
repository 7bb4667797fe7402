// Package store is the encrypting decorator of accountvault: a [Store] wraps
// any [accountvault.Backend] (backends/sqlite, backends/postgres, or your
// own) and implements the same interface, sealing the access, refresh and ID
// tokens of every row before they are written and opening them after they
// are read. It also hashes and verifies passwords, and runs the key-rotation
// operations.
//
// In the common case:
//
//	s, err := store.New(backend, kr)            // kr: a *keyring.Keyring
//	_, err = s.Upsert(ctx, acct)                // tokens sealed under a fresh data key
//	acct, err = s.FindByProvider(ctx, "github", "12345")
//	err = s.SetPassword(ctx, userID, pw)        // argon2id
//	ok, err := s.VerifyPassword(ctx, userID, pw)
//
// Every token is sealed with AES-256-GCM under a data key drawn fresh for
// each row write, and that data key is wrapped by the keyring's primary
// key-encryption key; the sealed value is bound to its table, column,
// provider, account and user (FORMAT.md). A value that fails to open is an
// error matching [accountvault.ErrDecrypt], [accountvault.ErrUnknownKey] or
// [accountvault.ErrLegacyPlaintext], reported with the row id: never an
// empty string or a zero value.
//
// Keys rotate online. Stage a key in the keyring file and let every replica
// pick it up ([Store.Reload], or [Store.WatchKeyringFile]); promote it;
// [Store.Rewrap] moves the old rows' data keys to it without touching token
// ciphertexts; [Store.Check] opens every value and counts them per key, the
// evidence that the old key protects nothing; [Store.DisableKey] refuses to
// retire a key still in use. [Store.EncryptLegacy] seals the plaintext
// tokens of an adopted better-auth or pylon table in place.
//
// The store does not protect against a process that holds the keyring (it
// can decrypt everything), and it does not detect a database writer that
// deletes a row or rolls a row back to an older sealed value of the same
// row. See SECURITY.md.
package store
