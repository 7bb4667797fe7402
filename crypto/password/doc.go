// Package password hashes and verifies passwords: argon2id in the PHC string
// format, with bounds on the parameters of stored hashes, a memory-weighted
// concurrency limit, dummy verification for unknown users, upgrade
// detection, and verifiers for the legacy formats an application may be
// migrating from (better-auth's scrypt, bcrypt).
//
// In the common case a server makes one [Hasher] with [New] and shares it:
//
//	h, err := password.New() // DefaultPolicy, DefaultBounds, GOMAXPROCS hashes at once
//	…
//	stored, err := h.Hash(ctx, pw) // at sign-up or password change
//	…
//	match, needsUpgrade, err := h.Verify(ctx, pw, stored) // at login
//	if match && needsUpgrade {
//		// replace stored with h.Hash(ctx, pw), by compare-and-swap
//	}
//	…
//	err = h.VerifyDummy(ctx, pw) // at login, when the user does not exist
//
// The package-level [Hash] and [Verify] do the same with a shared default
// Hasher and no context, for scripts and tests.
//
// # Hashes
//
// New hashes are argon2id (RFC 9106) PHC strings,
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
//
// with salt and hash in unpadded standard base64. [DefaultPolicy] is the
// second recommended option of RFC 9106, section 4 (64 MiB, 3 passes, 4
// lanes, 16-byte salt, 32-byte tag); [OWASPPolicy] uses less memory. The
// password hashed is the NFKC normal form of the one given, so that the same
// characters typed differently hash alike.
//
// Stored argon2id strings are parsed strictly and their parameters checked
// against [Bounds] before any hashing: a row tampered to ask for 4 GiB or a
// million passes is refused with [ErrHashBounds], a string that is not
// exactly the format with [ErrMalformedHash]. Comparisons are
// constant-time.
//
// # Memory
//
// argon2id's memory is its defence, and a login storm's danger: each hash
// computation holds its memory parameter in RAM. A Hasher runs them under a
// limiter of a fixed capacity in KiB (by default GOMAXPROCS × the policy's
// memory; see [WithConcurrency]); each computation reserves the memory it
// needs (a stored hash's m, 32 MiB for scrypt, 5 KiB for bcrypt) and waits,
// context-aware, for room. A stored hash asking for more than the whole
// capacity (possible when [Bounds] allow more than the capacity) reserves
// the whole capacity and runs alone. So the memory held by hash
// computations is at most max(capacity, Bounds.MaxMemory).
//
// The process holds more than that: each computation allocates its memory
// afresh, and the memory of finished ones stays on the heap until the
// collector runs. With the default GOGC=100 the heap grows to about twice
// what is live (2 × capacity). Setting GOMEMLIMIT (or
// debug.SetMemoryLimit) to the capacity plus one computation keeps the peak
// near that sum (the next computation allocates before the collector has
// freed the last one): with 2 × 64 MiB of capacity, 64 concurrent verifies
// of [DefaultPolicy] hashes peaked at 198 MiB of RSS with GOMEMLIMIT=192MiB,
// and at 262 MiB with GOGC=100 (see TestPeakRSS).
//
// # Legacy formats
//
// [BetterAuthScrypt] (better-auth's "<salt hex>:<key hex>") and [Bcrypt]
// ($2a$, $2b$, $2y$) hashes verify too, and report needsUpgrade on a match,
// so that a store replaces them with argon2id on the user's next login. An
// application adds its own formats with [WithVerifier].
//
// # What the caller must not do
//
// Do not compare hashes yourself, or hash before calling Verify: pass the
// password and the stored string. Do not log passwords or stored hashes;
// this package's errors contain neither. Do not skip VerifyDummy for unknown
// users: the time a login takes would tell which accounts exist.
package password
