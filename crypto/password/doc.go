// Package password hashes and verifies passwords: argon2id in the PHC string
// format, with bounds on the parameters of stored hashes, a memory-weighted
// concurrency limit, failed verifications (and unknown users) that cost at
// least the policy's work whatever the stored hash, upgrade detection, and
// verifiers for the legacy formats an application may be migrating from
// (better-auth's scrypt, bcrypt).
//
// In the common case a server makes one [Hasher] with [New] and shares it:
//
//	h, err := password.New() // DefaultPolicy(), DefaultBounds(), GOMAXPROCS hashes at once
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
// lanes, 16-byte salt, 32-byte tag); [OWASPPolicy] uses less memory. Both,
// and [DefaultBounds], are functions that return a fresh value, so no
// importer can change what another gets. The password hashed is the NFKC
// normal form of the one given, so that the same characters typed
// differently hash alike.
//
// Stored strings are parsed once per verification, strictly, and an
// argon2id hash's parameters are checked against [Bounds] before any
// hashing: a row tampered to ask for 4 GiB or a million passes is refused
// with [ErrHashBounds], a string that is not exactly the format with
// [ErrMalformedHash]. Comparisons are constant-time.
//
// # Failed logins
//
// A login should not tell who has an account, nor what kind of hash an
// account has, by how long a wrong password takes. So every failed
// verification costs at least one argon2id computation under the
// Hasher's policy: [Hasher.VerifyDummy] (an unknown user) runs exactly
// that; [Hasher.Verify] of a wrong password against an argon2id hash at
// least as costly as the policy runs the hash's own computation; against
// anything cheaper (argon2id with less memory or fewer passes or more
// lanes, better-auth scrypt, bcrypt, an application's own format) it runs
// the hash's own computation and then one under the policy, against a
// dummy hash, under the limiter. Measured with [DefaultPolicy], a wrong
// password costs 0.98 (argon2id at the policy) to 1.43 (bcrypt at cost 10)
// times what an unknown user costs, in medians by kind of hash
// (BenchmarkFailedVerify; figures in the project's BENCHMARKS.md).
//
// What remains: a hash that costs more than the policy costs more (its own
// computation, plus the policy's unless it is argon2id), so a user whose
// legacy hash is slow (bcrypt at cost 10, scrypt) answers more slowly than
// an unknown user until the next successful login replaces the hash. And a
// successful verification costs only its hash's own computation. Nothing
// in this package rewrites stored hashes: verification is read-only.
//
// Where better-auth's scrypt hashes are kept rather than replaced (a
// transition during which better-auth still verifies them), those users
// would stay distinguishable from unknown ones for the whole transition.
// [Hasher.VerifyScryptPadded] and [Hasher.VerifyDummyScryptPadded] are for
// that case: they add one better-auth scrypt derivation against a dummy
// hash, first, unless the stored hash is better-auth scrypt, and do the
// policy's work whether the password matches or not. Every call then does
// one scrypt and one policy argon2id derivation, in that order, for an
// unknown user, an argon2id hash at the policy and a better-auth scrypt
// hash alike, right password or wrong; other hashes add their own
// derivation. It costs a scrypt per login more.
//
// # Memory
//
// argon2id's memory is its defence, and a login storm's danger: each hash
// computation holds its memory parameter in RAM. A Hasher runs them under a
// limiter of a fixed capacity in KiB (by default GOMAXPROCS × the policy's
// memory; see [WithConcurrency]); each computation reserves the memory it
// needs (a stored hash's m, 32 MiB for scrypt, 5 KiB for bcrypt, the
// policy's m for the extra computation of a failed verification) and
// waits, context-aware, for room. A stored hash asking for more than the
// whole capacity (possible when [Bounds] allow more than the capacity)
// reserves the whole capacity and runs alone. So the memory held by hash
// computations is at most max(capacity, Bounds.MaxMemory) (the package's
// tests check, through a hook, that running computations never hold more
// than the capacity).
//
// The process holds more than that: each computation allocates its memory
// afresh, and the memory of finished ones stays on the heap until the
// collector runs. With the default GOGC=100 the heap grows to about twice
// what is live (2 × capacity). Setting GOMEMLIMIT (or
// debug.SetMemoryLimit) to the capacity plus one computation keeps the peak
// near that sum (the next computation allocates before the collector has
// freed the last one). How near depends on the collector's timing, and so
// on the machine's load: measured figures, and how to measure them
// (TestPeakRSS, with ACCOUNTVAULT_RSS=1), are in the project's
// BENCHMARKS.md.
//
// # Legacy formats
//
// [BetterAuthScrypt] (better-auth's "<salt hex>:<key hex>") and [Bcrypt]
// ($2a$, $2b$, $2y$) hashes verify too, and report needsUpgrade on a match,
// so that a store replaces them with argon2id on the user's next login. A
// password longer than bcrypt's 72 bytes does not match a bcrypt hash
// (bcrypt would ignore the excess): Verify reports false, not an error,
// after the same work as any wrong password. An application adds its own
// formats with [WithVerifier].
//
// # What the caller must not do
//
// Do not compare hashes yourself, or hash before calling Verify: pass the
// password and the stored string. Do not log passwords or stored hashes;
// this package's errors contain neither. Do not skip VerifyDummy for unknown
// users: the time a login takes would tell which accounts exist.
package password
