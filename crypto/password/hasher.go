package password

import (
	"context"
	"fmt"
	"math"
	"runtime"
)

// A Hasher hashes passwords with argon2id under a [Policy], and verifies
// them against stored hashes: argon2id PHC strings within its [Bounds], and
// the formats of its legacy verifiers. Every hash computation runs under a
// memory-weighted concurrency limit, and every failed verification costs
// at least one argon2id computation under the policy.
//
// A Hasher is safe for concurrent use; make one per process and share it.
type Hasher struct {
	policy    Policy
	bounds    Bounds
	lim       *limiter
	verifiers []Verifier  // argon2id first, then WithVerifier ones, then legacy
	dummy     *phc        // argon2id hash under policy, matching no password
	dummySc   *scryptHash // better-auth scrypt hash, matching no password
}

// New returns a Hasher. Without options it uses [DefaultPolicy],
// [DefaultBounds], a limiter of runtime.GOMAXPROCS(0) hashes of the
// policy's memory, and the legacy verifiers [BetterAuthScrypt] and
// Bcrypt([DefaultBcryptMaxCost]).
//
// New does no hashing: the dummy hash of [Hasher.VerifyDummy] and of failed
// verifications is a random salt and tag under the policy's parameters, and
// the dummy scrypt hash of the scrypt-padded methods a random salt and key.
// An invalid policy, bounds or option is an error wrapping
// [ErrInvalidConfig].
func New(opts ...Option) (*Hasher, error) {
	c := config{policy: DefaultPolicy(), bounds: DefaultBounds()}
	for _, o := range opts {
		o(&c)
	}
	if c.err != nil {
		return nil, c.err
	}
	if err := c.bounds.validate(); err != nil {
		return nil, err
	}
	if err := c.policy.validate(c.bounds); err != nil {
		return nil, err
	}
	n := c.concurrency
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if int64(n) > math.MaxInt64/int64(c.policy.Memory) {
		return nil, fmt.Errorf("%w: concurrency %d too large", ErrInvalidConfig, n)
	}
	dummy, err := dummyPHC(c.policy)
	if err != nil {
		return nil, err
	}
	dummySc, err := dummyScrypt()
	if err != nil {
		return nil, err
	}

	h := &Hasher{
		policy:  c.policy,
		bounds:  c.bounds,
		lim:     newLimiter(int64(n) * int64(c.policy.Memory)),
		dummy:   dummy,
		dummySc: dummySc,
	}
	h.verifiers = append(h.verifiers, argon2idVerifier{bounds: c.bounds})
	h.verifiers = append(h.verifiers, c.verifiers...)
	if !c.noLegacy {
		h.verifiers = append(h.verifiers, BetterAuthScrypt(), Bcrypt(DefaultBcryptMaxCost))
	}
	return h, nil
}

// Policy returns the policy of the hashes h writes.
func (h *Hasher) Policy() Policy { return h.policy }

// Hash returns the argon2id PHC string of password under h's policy, with a
// fresh random salt: $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<hash>.
//
// The password must be 1 to [MaxPasswordLen] bytes, as given and after NFKC
// normalisation (it is the normalised form that is hashed); otherwise the
// error wraps [ErrPasswordEmpty] or [ErrPasswordTooLong]. Hash waits for
// room in the limiter; if ctx is done first it returns ctx's error,
// wrapped.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	pw, err := normalize(password)
	if err != nil {
		return "", err
	}
	var out string
	_, err = h.run(ctx, int64(h.policy.Memory), func() (bool, error) {
		out, err = hashArgon2id(pw, h.policy)
		return false, err
	})
	return out, err
}

// Verify reports whether password matches stored, and, if it does, whether
// stored should be replaced by a fresh [Hasher.Hash] of password: because
// it is an argon2id hash whose parameters (memory, time, threads, salt or
// hash length) differ from h's policy, weaker or stronger, or because it is
// in a legacy format. needsUpgrade is false when match is false. Verify
// never writes or changes stored: replacing it is the caller's decision.
//
// A failed verification costs at least the policy's work, whatever stored
// is: when password does not match and stored is not an argon2id hash at
// least as costly as the policy (no less memory, no fewer passes, no more
// lanes), that is when it is a legacy hash or an argon2id hash with cheaper
// parameters, Verify then runs one argon2id computation under h's policy,
// as [Hasher.VerifyDummy] does, under the limiter, and only then answers.
// So a wrong password for a user with a cheap hash costs no less than one
// for a user with a policy hash, or for an unknown user. A hash that costs
// more than the policy still costs more (its own computation, then the
// policy's unless it is argon2id), and a successful verification costs its
// hash's own computation only.
//
// The password is checked first, for every stored hash: it must be 1 to
// [MaxPasswordLen] bytes as given and after NFKC normalisation, or the
// error wraps [ErrPasswordEmpty] or [ErrPasswordTooLong]. A password that
// stored's format can not hold (over 72 bytes for bcrypt) is not an error:
// it does not match. Then stored is parsed, once: a string that no verifier
// recognises, or that is malformed, is an error wrapping
// [ErrMalformedHash]; one whose parameters exceed h's bounds, an error
// wrapping [ErrHashBounds]. On any of these errors nothing is hashed.
//
// The comparison is constant-time. Verify waits for room in the limiter,
// reserving the memory the stored hash asks for (at most the whole
// capacity), then, after a mismatch, the policy's memory; if ctx is done
// first it returns ctx's error, wrapped. A mismatch is not an error.
//
// For an unknown user call [Hasher.VerifyDummy] instead.
func (h *Hasher) Verify(ctx context.Context, password, stored string) (match, needsUpgrade bool, err error) {
	return h.verify(ctx, password, stored, false)
}

// VerifyScryptPadded is [Hasher.Verify] padded to better-auth's work: its
// checks, errors and answers are Verify's, and its work is that of a
// failed Verify whether or not password matches, plus one better-auth
// scrypt derivation ([BetterAuthScrypt]'s N=16384, r=16, p=1, 32 MiB)
// when stored is not a better-auth scrypt hash, run first, against a
// dummy hash made by [New], under the limiter, and discarded.
//
// So every call does exactly one better-auth scrypt derivation and then
// one argon2id derivation under the policy when stored is an argon2id
// hash with exactly the policy's costs (its own derivation) or a
// better-auth scrypt hash (its own scrypt, then the policy's against the
// dummy), as [Hasher.VerifyDummyScryptPadded] does for an unknown user: a
// login can not tell those users from each other, nor from an unknown
// one, by the work it does, and a right password costs what a wrong one
// does. Other hashes add their own derivation between the two (an
// argon2id hash cheaper than the policy, bcrypt, an application's format)
// or replace the policy's by theirs (an argon2id hash at least as costly
// as the policy, with other parameters), so they cost at least that pair
// and can be told apart from it, as with Verify.
//
// It is for a store that keeps better-auth's scrypt hashes unreplaced
// (a transition during which better-auth still verifies them), where a
// cheaper unknown-user path would tell, for as long as the transition
// lasts, every better-auth user from a non-existent one. The price is a
// scrypt derivation (32 MiB in the limiter) on every call that Verify
// would not have made: with [DefaultPolicy], an unknown user costs about
// 1.4 times what VerifyDummy does (the project's BENCHMARKS.md).
func (h *Hasher) VerifyScryptPadded(ctx context.Context, password, stored string) (match, needsUpgrade bool, err error) {
	return h.verify(ctx, password, stored, true)
}

// verify is Verify, and with padded, VerifyScryptPadded.
func (h *Hasher) verify(ctx context.Context, password, stored string, padded bool) (match, needsUpgrade bool, err error) {
	pw, err := normalize(password)
	if err != nil {
		return false, false, err
	}
	ph, err := h.parse(stored)
	if err != nil {
		return false, false, err
	}
	if _, isScrypt := ph.(*scryptHash); padded && !isScrypt {
		if err := h.scryptWork(ctx, pw); err != nil {
			return false, false, err
		}
	}
	match, err = h.run(ctx, ph.Cost(), func() (bool, error) {
		if v, ok := ph.(nfkcVerifier); ok {
			return v.verifyNFKC(pw)
		}
		return ph.Verify(password)
	})
	p, isArgon2id := ph.(*phc)
	switch {
	case err != nil:
		return false, false, err
	case match && isArgon2id:
		needsUpgrade = !p.matches(h.policy)
	case match:
		needsUpgrade = true
	}
	if (match && !padded) || (isArgon2id && p.atLeast(h.policy)) {
		return match, needsUpgrade, nil
	}
	if err := h.policyWork(ctx, pw); err != nil {
		return false, false, err
	}
	return match, needsUpgrade, nil
}

// VerifyDummy does the work of a Verify that fails, for a user that does not
// exist: the same password checks, then one argon2id computation with h's
// policy, under the same limiter, against a hash made at construction that
// no password matches. Calling it where a real user's hash would be
// verified makes an unknown user cost what a wrong password costs for a
// user with any hash (at least that: see [Hasher.Verify]).
//
// It returns nil, or the error Verify would have returned for the password
// (empty, too long) or the context.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	pw, err := normalize(password)
	if err != nil {
		return err
	}
	return h.policyWork(ctx, pw)
}

// VerifyDummyScryptPadded is [Hasher.VerifyDummy] padded as
// [Hasher.VerifyScryptPadded] is: the same password checks, then one
// better-auth scrypt derivation against a dummy hash, then one argon2id
// derivation under the policy against another, each under the limiter.
// Call it for an unknown user where a known user's hash would be verified
// with VerifyScryptPadded.
func (h *Hasher) VerifyDummyScryptPadded(ctx context.Context, password string) error {
	pw, err := normalize(password)
	if err != nil {
		return err
	}
	if err := h.scryptWork(ctx, pw); err != nil {
		return err
	}
	return h.policyWork(ctx, pw)
}

// scryptWork runs one better-auth scrypt derivation of pw (NFKC) against
// the dummy scrypt hash, under the limiter, and discards the answer.
func (h *Hasher) scryptWork(ctx context.Context, pw []byte) error {
	_, err := h.run(ctx, h.dummySc.Cost(), func() (bool, error) {
		return h.dummySc.verifyNFKC(pw)
	})
	return err
}

// policyWork runs one argon2id computation of pw (NFKC) under h's policy
// against the dummy hash, under the limiter, and discards the answer.
func (h *Hasher) policyWork(ctx context.Context, pw []byte) error {
	_, err := h.run(ctx, h.dummy.Cost(), func() (bool, error) {
		return h.dummy.verifyNFKC(pw)
	})
	return err
}

// NeedsUpgrade reports whether stored is anything other than a well-formed
// argon2id hash, within h's bounds, with exactly h's policy: that is,
// whether it should be replaced after the next successful Verify. It does
// no hashing.
func (h *Hasher) NeedsUpgrade(stored string) bool {
	p, err := parsePHC(stored, h.bounds)
	return err != nil || !p.matches(h.policy)
}

// Recognized reports whether stored is a password hash that h can verify:
// in a recognised format, well-formed and within bounds. It does no
// hashing. A store uses it to refuse writing anything else, such as a
// plaintext password, to a password column.
func (h *Hasher) Recognized(stored string) bool {
	_, err := h.parse(stored)
	return err == nil
}

// run calls f holding kib KiB of the limiter.
func (h *Hasher) run(ctx context.Context, kib int64, f func() (bool, error)) (bool, error) {
	release, err := h.lim.acquire(ctx, kib)
	if err != nil {
		return false, err
	}
	defer release()
	return f()
}

// parse parses stored with the first verifier that recognises it.
func (h *Hasher) parse(stored string) (ParsedHash, error) {
	for _, v := range h.verifiers {
		if v.Recognize(stored) {
			ph, err := v.Parse(stored)
			if err == nil && ph == nil {
				err = fmt.Errorf("%w: a Verifier parsed the hash to nil", ErrMalformedHash)
			}
			return ph, err
		}
	}
	return nil, fmt.Errorf("%w: not a recognised password hash format", ErrMalformedHash)
}
