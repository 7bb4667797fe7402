package password

import "fmt"

// An Option configures a [Hasher] made by [New].
type Option func(*config)

type config struct {
	policy      Policy
	bounds      Bounds
	concurrency int // 0: GOMAXPROCS
	verifiers   []Verifier
	noLegacy    bool
	err         error
}

// WithPolicy sets the policy of new hashes (default [DefaultPolicy]). It
// must lie within the Hasher's bounds, or New fails with
// [ErrInvalidConfig].
func WithPolicy(p Policy) Option {
	return func(c *config) { c.policy = p }
}

// WithBounds sets the bounds on stored argon2id hashes (default
// [DefaultBounds]).
func WithBounds(b Bounds) Option {
	return func(c *config) { c.bounds = b }
}

// WithConcurrency sets the limiter's capacity to n hashes of the policy's
// memory: n × Policy.Memory KiB (default n = runtime.GOMAXPROCS(0) at the
// time of New). n must be at least 1.
//
// Hash computations then hold at most that much memory at once; callers
// beyond it wait, until their context is done. A stored hash asking for
// more memory than the capacity (when the Bounds allow it) waits for the
// whole capacity and runs alone, rather than never.
func WithConcurrency(n int) Option {
	return func(c *config) {
		if n < 1 {
			c.err = fmt.Errorf("%w: concurrency %d below 1", ErrInvalidConfig, n)
			return
		}
		c.concurrency = n
	}
}

// WithVerifier adds a verifier for another hash format. Verifiers added this
// way are consulted in order, after argon2id and before the built-in legacy
// verifiers, so that one can replace a built-in (for example
// Bcrypt(12) in place of Bcrypt(DefaultBcryptMaxCost)). A match through any
// verifier but argon2id reports needsUpgrade.
func WithVerifier(v Verifier) Option {
	return func(c *config) {
		if v == nil {
			c.err = fmt.Errorf("%w: nil Verifier", ErrInvalidConfig)
			return
		}
		c.verifiers = append(c.verifiers, v)
	}
}

// WithoutLegacyVerifiers leaves out the built-in [BetterAuthScrypt] and
// [Bcrypt] verifiers: only argon2id hashes, and those of verifiers added
// with [WithVerifier], are recognised.
func WithoutLegacyVerifiers() Option {
	return func(c *config) { c.noLegacy = true }
}
