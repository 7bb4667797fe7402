// Package betterauth opens the OAuth tokens that better-auth stores
// encrypted when its encryptOAuthTokens option is on, so that a tool
// adopting a better-auth database can seal the tokens themselves rather
// than better-auth's ciphertext. It reads the format of better-auth 1.7.25
// and never writes it.
//
// In the common case, build a [Secrets] once with [Parse] from the
// deployment's two settings, the values of BETTER_AUTH_SECRETS and
// BETTER_AUTH_SECRET, and call [Secrets.Open] on each stored access and
// refresh token:
//
//   - a value that opens is the token better-auth encrypted;
//   - [ErrNotBetterAuth] means the value does not have the shape of
//     better-auth ciphertext: it is not one (a plaintext token, written
//     before encryption was turned on, or with it off);
//   - [ErrBetterAuthDecrypt] means the value has that shape and does not
//     open: it must not be stored as a token. The *[OpenError] says why,
//     and wraps [ErrNoSecret] when the secrets lack the one the value
//     names.
//
// better-auth never encrypts ID tokens (the idToken column): do not pass
// them to Open.
//
// # The format
//
// From better-auth's src/crypto/index.ts (symmetricEncrypt, rawEncrypt,
// formatEnvelope, parseEnvelope) and src/oauth2/utils.ts (setTokenUtil,
// decryptOAuthToken), as published in better-auth 1.7.25 on npm:
//
//	key    = SHA-256(UTF-8 bytes of the secret string)
//	sealed = nonce (24 random bytes) || XChaCha20-Poly1305(key, nonce, token) || tag (16 bytes)
//
// with no associated data (@noble/ciphers' managedNonce(xchacha20poly1305)).
// The stored value is the lowercase hex of sealed, either bare, under the
// single secret (the secret option or BETTER_AUTH_SECRET), or as the
// envelope
//
//	$ba$<version>$<hex of sealed>
//
// under the secret of that version, when versioned secrets are configured
// (the secrets option or BETTER_AUTH_SECRETS, "2:new,1:old", the first
// entry current; src/context/secret-utils.ts parseSecretsEnv and
// buildSecretConfig). With versioned secrets, better-auth still opens bare
// values with BETTER_AUTH_SECRET, its legacy secret. better-auth encrypts
// only non-empty tokens, so sealed is at least 41 bytes.
//
// # What counts as better-auth's
//
// A value that begins with "$ba$" claims to be better-auth's envelope:
// Open opens it or fails with [ErrBetterAuthDecrypt], whatever follows
// the prefix. A value without the prefix has the shape of a bare value
// when it is an even number of hexadecimal digits (either case, as
// better-auth's reader accepts) that decode to at least 41 bytes and at
// most [MaxPlaintext] + 40; anything else is [ErrNotBetterAuth] and is
// never decrypted.
//
// The shape is not evidence: real tokens can be hex (a provider may issue
// 64 random bytes as 128 hex digits), and such a token has the shape of a
// bare value. Only the AEAD opening under a configured secret shows that a
// value is better-auth ciphertext. A bare value of the right shape that
// does not open is either ciphertext under a secret that is not
// configured (or an altered value), or a plaintext token that happens to
// be hex; nothing in the value tells the two apart, so Open reports
// [ErrBetterAuthDecrypt] for both, and the decision belongs to the
// operator. (A caller can weigh that other values of the same table open
// under the same secret.) A value not sealed under the key Open tries
// opens only by matching a Poly1305 tag: a chance below 2^-90 per value,
// even at MaxPlaintext (8·⌈L/16⌉/2^106 for L bytes).
//
// # What it does not do
//
// Open returns the plaintext bytes as sealed; better-auth writes UTF-8
// and decodes with a non-fatal TextDecoder, so a value sealed by anyone
// else holding the secret could open to bytes that better-auth would read
// differently. Callers that store the result check it as they check any
// token. Secrets are held as XChaCha20-Poly1305 keys until the garbage
// collector reclaims them; Go offers no way to wipe them. Errors never
// contain a value, a token or a secret, and neither does the formatted
// form of a [Secrets].
package betterauth
