// Package store is the encrypting decorator of accountvault: a [Store]
// wraps any [accountvault.Backend] (backends/sqlite, backends/postgres, or
// your own), takes and returns plaintext [accountvault.Account]s, and hands
// the backend only [accountvault.SealedRow]s: it seals the access, refresh
// and ID tokens of every row before they are written and opens them after
// they are read. It also hashes and verifies passwords.
//
// In the common case, an auth server does:
//
//	kr, err := keyring.LoadFile(path, master)   // the encrypted keyring
//	keys, err := kr.KEK()                       // its immutable primitive
//	s, err := store.New(backend, keys)
//	_, err = s.Upsert(ctx, acct)                // tokens sealed under a fresh data key
//	acct, err = s.FindByProvider(ctx, "github", "12345")
//	err = s.CompareAndSwap(ctx, acct, refreshed) // a token refresh; the first of two wins
//	err = s.SetPassword(ctx, userID, pw)        // argon2id
//	ok, err := s.VerifyPassword(ctx, userID, pw)
//	n, err := s.DeleteUser(ctx, userID)         // erasure
//
// Every token is sealed with AES-256-GCM under a data key drawn fresh for
// each row write, and that data key is wrapped by the keyring's primary
// key-encryption key; the sealed value is bound to its table, column,
// provider, account and user (FORMAT.md). A value that fails to open is an
// *[accountvault.RowError] matching [accountvault.ErrDecrypt],
// [accountvault.ErrUnknownKey], [accountvault.ErrLegacyPlaintext] or
// [accountvault.ErrUnexpectedPlaintext], naming the row and column: never
// an empty string or a zero value.
//
// [Store.AcquireLease] and [Store.ReleaseLease] give callers an advisory
// lease on a name, shared by every store over the table (every replica),
// kept in the backend's metadata: the nested module oauth2store takes one
// so that an expired token is refreshed once, not once per replica.
//
// # The operator's side
//
// [Admin] ([NewAdmin]) holds the work that walks or checks the whole table.
// Keys rotate online: stage a key in the keyring and let every replica pick
// it up ([Store.Reload], or [Admin.WatchKeyringFile]); promote it;
// [Admin.Rewrap] moves the old rows' data keys to it without touching token
// ciphertexts; [Admin.Check] opens every value and counts them per key, the
// evidence that the old key protects nothing; [Admin.CheckRetire] answers
// whether a key may be disabled or deleted, and the caller edits its
// keyring. [Admin.EncryptLegacy] seals the plaintext tokens of a
// better-auth or pylon table adopted by the backend's Adopt; tokens that
// better-auth encrypted are opened first, with the deployment's secrets
// ([WithBetterAuthSecrets]), and a value that may be its ciphertext but
// does not open is refused, never sealed (see [WithBetterAuthPlaintext]
// for the rule).
//
// The store does not protect against a process that holds the keyring (it
// can decrypt everything), and it does not detect a database writer that
// deletes a row or rolls a row back to an older sealed value of the same
// row. See SECURITY.md.
package store
