package password

// Verifier checks passwords against stored hashes of one format. A [Hasher]
// holds an argon2id verifier, the legacy verifiers [BetterAuthScrypt] and
// [Bcrypt] unless [WithoutLegacyVerifiers] is given, and any added with
// [WithVerifier]. Implementations must be safe for concurrent use.
//
// For a stored hash, the Hasher picks the first verifier that recognises it,
// asks its Cost (which parses and bounds the hash, without hashing), waits
// for that much memory in its limiter, then calls Verify.
type Verifier interface {
	// Recognize reports whether stored is in this verifier's format,
	// judging by its shape alone (a prefix, a length), cheaply and without
	// hashing. A malformed hash of the format should be recognised, so that
	// Cost can say what is wrong with it.
	Recognize(stored string) bool

	// Cost parses stored and checks its parameters, without hashing. It
	// returns the memory in KiB that Verify of stored needs, which the
	// Hasher reserves in its limiter, or an error wrapping ErrMalformedHash
	// or ErrHashBounds. The error must not contain stored.
	Cost(stored string) (kib int64, err error)

	// Verify reports whether password matches stored. The Hasher calls it
	// only after Cost(stored) succeeded, with a password of 1 to
	// MaxPasswordLen bytes exactly as the caller gave it: a verifier that
	// wants a normal form applies it. Verify must compare in constant time
	// and its errors must not contain password or stored.
	Verify(password, stored string) (bool, error)
}
