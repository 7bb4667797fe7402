// Package accountvault defines the account model shared by the accountvault
// store and its storage backends: the plaintext [Account] that applications
// see (better-auth's account table), the [SealedRow] that backends store,
// the [Backend] interface over sealed rows, the [Secret] type that keeps
// tokens and hashes out of logs, and the sentinel errors.
//
// This package holds no cryptography and no SQL. In the common case an
// application:
//
//   - opens a backend: backends/sqlite (embedded, the default) or
//     backends/postgres, handing it its own *sql.DB or *pgxpool.Pool if it
//     has one, and calls its Migrate method once;
//   - loads a keyring (package keyring) under a master key from a KMS or
//     from the environment;
//   - wraps the backend in store.New, which seals access, refresh and ID
//     tokens before they are written and opens them on read, and hashes and
//     verifies passwords with argon2id.
//
// Backends take and return [SealedRow] values only, so a plaintext token
// cannot be written through a backend: only the store turns an [Account]
// into a sealed row and back. Tokens in an [Account] read from the store
// are plaintext [Secret] values: call [Secret.Reveal] where the value
// is really needed, and pass the Account around otherwise: it prints,
// logs and encodes to JSON with its secrets redacted.
//
// Errors wrap the sentinels below ([ErrNotFound], [ErrConflict],
// [ErrInvalidAccount], [ErrDecrypt], …); test them with [errors.Is]. No
// error string contains a token, key, password or hash.
package accountvault
