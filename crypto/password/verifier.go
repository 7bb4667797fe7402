package password

import "io"

// Verifier parses stored hashes of one format. A [Hasher] holds an argon2id
// verifier, the legacy verifiers [BetterAuthScrypt] and [Bcrypt] unless
// [WithoutLegacyVerifiers] is given, and any added with [WithVerifier].
// Implementations must be safe for concurrent use.
//
// To verify a password against a stored hash, the Hasher picks the first
// verifier that recognises the hash and parses it once, with Parse; it
// then waits for the parsed hash's Cost in its limiter and calls its
// Verify. If that reports no match and the hash is not an argon2id hash
// at least as costly as the Hasher's policy, the Hasher also runs one
// argon2id derivation with the policy's parameters (see [Hasher.Verify]).
type Verifier interface {
	// Recognize reports whether stored is in this verifier's format,
	// judging by its shape alone (a prefix, a length), cheaply and without
	// hashing. A malformed hash of the format should be recognised, so that
	// Parse can say what is wrong with it.
	Recognize(stored string) bool

	// Parse parses stored and checks its parameters, without hashing. It
	// returns the parsed hash, or an error wrapping ErrMalformedHash or
	// ErrHashBounds. The error must not contain stored.
	Parse(stored string) (ParsedHash, error)
}

// A ParsedHash is one stored hash, parsed and bounded by its [Verifier],
// ready to check passwords against. It holds the hash: an implementation
// should not print it (those of this package print as their kind only).
type ParsedHash interface {
	// Cost returns the memory in KiB that Verify needs, which the Hasher
	// reserves in its limiter (at most the limiter's whole capacity).
	Cost() int64

	// Verify reports whether password matches the hash. The Hasher calls
	// it with a password of 1 to MaxPasswordLen bytes, both as given and
	// after NFKC normalisation, exactly as the caller gave it: a format
	// that wants a normal form applies it. A password that the format can
	// not hold (longer than bcrypt's 72 bytes) matches nothing: Verify
	// reports false, not an error, after the same work as for any other
	// wrong password. Verify must compare in constant time, and its errors
	// must not contain the password or the hash.
	Verify(password string) (bool, error)
}

// nfkcVerifier is implemented by this package's parsed hashes that hash the
// NFKC form of the password (argon2id, scrypt): the Hasher has normalised
// the password already and passes that form, so it is done once.
type nfkcVerifier interface {
	verifyNFKC(nfkc []byte) (bool, error)
}

// redacted writes what this package's parsed hashes print as.
func redacted(w io.Writer, kind string) {
	io.WriteString(w, "password.ParsedHash("+kind+")")
}
