package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/password"
)

// passwords holds the store's password hasher and how it treats the hashes
// it verifies.
type passwords struct {
	h         *password.Hasher
	noUpgrade bool // WithoutPasswordUpgrade
}

func (p *passwords) init(h *password.Hasher, noUpgrade bool) error {
	p.noUpgrade = noUpgrade
	if h != nil {
		p.h = h
		return nil
	}
	h, err := password.New()
	if err != nil {
		return fmt.Errorf("store: password hasher: %w", err)
	}
	p.h = h
	return nil
}

func (p *passwords) recognized(hash accountvault.Secret) bool {
	return p.h.Recognized(hash.Reveal())
}

// WithPasswordHasher sets the hasher for SetPassword and VerifyPassword
// (its policy, bounds, concurrency limit and legacy verifiers). The default
// is password.New() with no options: argon2id m=64 MiB, t=3, p=4, a limit
// sized from GOMAXPROCS, and the bcrypt and better-auth scrypt verifiers.
func WithPasswordHasher(h *password.Hasher) Option {
	return func(c *config) error {
		if h == nil {
			return errors.New("store: WithPasswordHasher: nil hasher")
		}
		c.hasher = h
		return nil
	}
}

// WithoutPasswordUpgrade makes [Store.VerifyPassword] leave every stored
// hash as it is: a better-auth scrypt or bcrypt hash that verifies is not
// replaced by an argon2id one, nor an argon2id hash whose parameters differ
// from the hasher's policy by one with the policy's. It is for the
// transition from a better-auth deployment that keeps running on the
// adopted table: better-auth verifies only its own scrypt hashes, so a
// login through accountvault must not turn a user's hash into one that
// better-auth cannot read. The store then writes a password column only
// when asked to: [Store.SetPassword], or an Upsert that carries a hash.
//
// The trade-off: while it is on, legacy hashes stay as cheap to attack as
// they were (better-auth's scrypt costs an attacker one 32 MiB scrypt per
// guess, bcrypt what its cost says, against the policy's argon2id), in the
// database and in every backup taken meanwhile. Turn it off as soon as
// better-auth no longer serves logins; each legacy or weaker hash is then
// replaced at its user's next successful login.
//
// While it is on, every login costs the same work whether the user is
// unknown, has no password, has a policy argon2id hash or has better-auth's
// scrypt hash, and whether the password is right or wrong: one better-auth
// scrypt computation (N=16384, r=16, p=1, 32 MiB) and then one argon2id
// computation under the hasher's policy, the user's own hash standing for
// the one of its kind and dummy hashes, made at start-up, for the others
// (see [password.Hasher.VerifyScryptPadded]). Without that padding an unknown
// user would cost the argon2id alone and a better-auth user the scrypt as
// well, so the time of a failed login would tell, for as long as the
// transition lasts, every better-auth user from a non-existent one. The
// cost: every login through accountvault pays a scrypt on top of the
// argon2id while the option is on (with the default policy, an unknown user's login
// costs 1.4 times what it costs with the option off; BENCHMARKS.md).
//
// What still differs: a bcrypt hash (pylon) or an argon2id hash with other
// parameters than the policy's adds its own computation between the two
// (an argon2id hash at least as costly as the policy replaces the policy's
// computation by its own), so its users remain distinguishable by time,
// as they are without the option (SECURITY.md, "Login-path attackers").
//
// SetPassword is not affected: it writes an argon2id hash, which
// better-auth cannot verify, so from then on that user logs in through
// accountvault only. It is not refused, because a password change or
// reset must always be possible (after a compromise above all), and it
// does not write better-auth's scrypt format, because accountvault never
// writes a hash weaker than its policy. SECURITY.md ("Running better-auth
// beside accountvault") says what better-auth can and cannot do on the
// adopted table meanwhile.
func WithoutPasswordUpgrade() Option {
	return func(c *config) error { c.noPasswordUpgrade = true; return nil }
}

// SetPassword hashes password with argon2id and writes it to userID's
// "credential" row (AccountID = userID, better-auth's convention), creating
// the row if there is none. An existing row is changed by CompareAndSwap of
// its password column alone (retried if the row changes meanwhile), so a
// concurrent write to its other columns is never lost; a password change
// always wins over a concurrent hash upgrade.
//
// It writes argon2id even under [WithoutPasswordUpgrade]: better-auth, if
// it still serves logins on the same table, can then no longer verify
// that user's password.
func (s *Store) SetPassword(ctx context.Context, userID, pw string) error {
	if userID == "" {
		return &accountvault.InvalidAccountError{Field: "UserID", Reason: "is empty"}
	}
	hash, err := s.pw.h.Hash(ctx, pw)
	if err != nil {
		return fmt.Errorf("store: hashing password: %w", err)
	}
	const attempts = 5
	for i := 0; ; i++ {
		raw, err := s.b.FindByProvider(ctx, accountvault.ProviderCredential, userID)
		if errors.Is(err, accountvault.ErrNotFound) {
			id, err := newID()
			if err != nil {
				return err
			}
			_, err = s.Upsert(ctx, accountvault.Account{ID: id, UserID: userID, ProviderID: accountvault.ProviderCredential,
				AccountID: userID, Password: accountvault.NewSecret(hash)})
			return err
		}
		if err != nil {
			return err
		}
		w := raw
		w.Password = accountvault.NewSecret(hash)
		w.UpdatedAt = zeroTime
		err = s.b.CompareAndSwap(ctx, raw, w)
		if err == nil || !errors.Is(err, accountvault.ErrConflict) || i == attempts-1 {
			return err
		}
	}
}

// VerifyPassword reports whether pw is userID's password.
//
// A user that does not exist, has no credential row or has no password
// gives false, not an error, after one argon2id computation under the
// hasher's policy (a dummy hash made at start-up, under the same limiter);
// a wrong password costs at least that much whatever the user's stored
// hash (argon2id, weaker argon2id, better-auth scrypt, bcrypt: see
// password.Hasher.Verify), so a login handler can not tell who has an
// account by a faster answer. A password longer than bcrypt's 72 bytes is
// a wrong password for a bcrypt user, not an error. An error is returned
// only for what the caller must see: an invalid password (empty, longer
// than password.MaxPasswordLen), a stored hash that is malformed or out of
// bounds, a database failure, or a cancelled context.
//
// After a successful verify, a hash that is in a legacy format or has
// parameters other than the hasher's policy is replaced by a fresh argon2id
// hash through CompareAndSwap: a password changed concurrently is never
// overwritten, and a failed upgrade is logged without failing the login.
// Under [WithoutPasswordUpgrade] nothing is replaced: the stored hash stays
// byte for byte what it was, and every login, right or wrong, does one
// better-auth scrypt and one policy argon2id computation (and the stored
// hash's own when it is neither: see the option); if ctx is done before
// they finish, the error is ctx's, wrapped.
func (s *Store) VerifyPassword(ctx context.Context, userID, pw string) (bool, error) {
	raw, err := s.b.FindByProvider(ctx, accountvault.ProviderCredential, userID)
	if err != nil && !errors.Is(err, accountvault.ErrNotFound) {
		return false, err
	}
	if s.pw.noUpgrade {
		return s.verifyPadded(ctx, raw, err == nil, pw)
	}
	if err != nil || raw.Password.IsZero() {
		if err := s.pw.h.VerifyDummy(ctx, pw); err != nil {
			return false, fmt.Errorf("store: verifying password: %w", err)
		}
		return false, nil
	}
	// A wrong password costs at least the policy's argon2id work whatever
	// the stored hash (the hasher adds it after a cheaper hash's own), and
	// one that the hash's format can not hold (over bcrypt's 72 bytes) is
	// a wrong password, not an error.
	match, upgrade, err := s.pw.h.Verify(ctx, pw, raw.Password.Reveal())
	if err != nil {
		return false, fmt.Errorf("store: verifying password of row %q: %w", raw.ID, err)
	}
	if !match || !upgrade {
		return match, nil
	}
	s.upgradeHash(ctx, raw, pw)
	return true, nil
}

// verifyPadded is VerifyPassword under WithoutPasswordUpgrade: the row
// (found is false when there is none) is verified with the hasher's
// scrypt-padded methods, so that every login, failed or successful, does
// one better-auth scrypt derivation and then one argon2id under the policy
// (and the stored hash's own, when it is neither of those), and nothing is
// written.
func (s *Store) verifyPadded(ctx context.Context, raw accountvault.SealedRow, found bool, pw string) (bool, error) {
	if !found || raw.Password.IsZero() {
		if err := s.pw.h.VerifyDummyScryptPadded(ctx, pw); err != nil {
			return false, fmt.Errorf("store: verifying password: %w", err)
		}
		return false, nil
	}
	match, _, err := s.pw.h.VerifyScryptPadded(ctx, pw, raw.Password.Reveal())
	if err != nil {
		return false, fmt.Errorf("store: verifying password of row %q: %w", raw.ID, err)
	}
	return match, nil
}

// upgradeHash replaces raw's password hash with a fresh one, unless the row
// changed meanwhile. Failures are logged: the login has succeeded already.
func (s *Store) upgradeHash(ctx context.Context, raw accountvault.SealedRow, pw string) {
	hash, err := s.pw.h.Hash(ctx, pw)
	if err != nil {
		s.log.Warn("accountvault: password hash upgrade failed", "table", s.table, "row_id", raw.ID, "error", err.Error())
		return
	}
	w := raw
	w.Password = accountvault.NewSecret(hash)
	w.UpdatedAt = zeroTime
	switch err := s.b.CompareAndSwap(ctx, raw, w); {
	case err == nil:
		s.log.Info("accountvault: password hash upgraded", "table", s.table, "row_id", raw.ID)
	case errors.Is(err, accountvault.ErrConflict):
		s.log.Info("accountvault: password hash upgrade skipped: row changed concurrently", "table", s.table, "row_id", raw.ID)
	default:
		s.log.Warn("accountvault: password hash upgrade failed", "table", s.table, "row_id", raw.ID, "error", err.Error())
	}
}

var zeroTime time.Time

// newID returns a random row id for a new credential row.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("store: generating row id: %w", err)
	}
	return fmt.Sprintf("cred_%x", b), nil
}
