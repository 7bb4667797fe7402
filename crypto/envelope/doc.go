// Package envelope seals the OAuth tokens of one account row for storage,
// and opens them again: envelope encryption with a fresh data key per row
// write, wrapped by a key-encryption key. The bytes are specified in
// FORMAT.md at the root of the module, with test vectors in testdata/.
//
// Most applications do not use this package directly: package store calls
// it on every write and read. Use it to build another store, or a tool that
// reads a database. In the common case:
//
//   - [Seal] a row's three tokens ([Fields], indexed by [Column]) for its
//     [Place] (table, user, provider and provider account) with a [KEK],
//     normally the *keyring.KEK that a keyring builds, and store the
//     results in BLOB or BYTEA columns;
//   - [Open] them with the same place and a KEK that holds the key they
//     were sealed under;
//   - after promoting a new primary key, [Rewrap] each row to move its data
//     key onto it, then retire the old key once [KeyID] finds no row
//     still using it.
//
// A [KEK] is three methods (Wrap, Unwrap, PrimaryID), so a KMS or an HSM can
// stand in for the keyring, as an age Recipient or Identity does.
//
// # What it guarantees
//
// Each Seal call draws a random 256-bit AES-GCM data key, wraps it once
// with the KEK's primary key, and seals each non-empty token under it with
// a random 96-bit nonce. Tokens are confidential and authenticated, and
// bound to their place and column through the associated data: a value
// copied to another row, column, table or user, or altered in any byte,
// fails to open with an error wrapping [accountvault.ErrDecrypt]. A sealed
// value carries the id of its key-encryption key, so keys rotate without
// touching token ciphertexts, and rewrapping never decrypts a token.
//
// Every failure is an error the caller tests with [errors.Is]: a
// *[ColumnError] names the column, and wraps [accountvault.ErrDecrypt],
// [accountvault.ErrUnknownKey] or [accountvault.ErrLegacyPlaintext]. Open
// never returns a partial row, an empty string in place of a token, or
// panics on malformed input (the parsers are fuzzed). Errors never contain
// a token or a key.
//
// A value whose first byte is not the format's magic byte 0xA7 is legacy
// plaintext ([accountvault.ErrLegacyPlaintext]): it is never guessed to be
// ciphertext. No UTF-8 text, and so no OAuth token, begins with 0xA7.
//
// The functions are safe for concurrent use if the KEK is. They hold data
// keys in memory only while sealing, opening or rewrapping a row, and zero
// them before returning.
//
// # What it does not do
//
// It does not detect rollback: someone who can write the database can put
// back an older sealed value of the same place and column (an earlier write
// of the row, or of a deleted row re-linked to the same provider account),
// and it opens. Nor does it hide token lengths, which the sealed lengths
// reveal up to a constant, or protect anything from a process that holds
// the KEK.
//
// Zeroing is best effort: the package zeroes the data keys it holds, but
// the AES key schedule inside crypto/aes lives until the garbage collector
// reclaims it (Go offers no way to wipe it), and copies a KEK makes are the
// KEK's. Plaintexts that Open returns belong to the caller.
//
// Tokens are limited to [MaxPlaintext] (64 KiB) each, so a sealed value
// always fits [accountvault.MaxTokenSize]. Empty tokens are not sealed:
// they stay empty.
package envelope
