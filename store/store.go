package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/crypto/password"
	"github.com/accountvault/accountvault/keyring"
)

// Keys is one immutable version of the key-encryption keys a Store seals
// and opens with: a [envelope.KEK] that also lists its keys and their
// states. [*keyring.KEK], built once per keyring version with
// [keyring.Keyring.KEK], implements it; a KMS- or HSM-backed
// implementation can too. Every method must be safe for concurrent use,
// and the answers must not change for the life of the value: a new key
// state is a new Keys, handed to [Store.Reload].
type Keys interface {
	envelope.KEK

	// KeyIDs returns the ids of the keys Unwrap accepts, oldest first.
	KeyIDs() []uint32

	// Status returns the state of key id, and whether the key set knows
	// it at all. A staged key unwraps but never wraps; the store leaves
	// values on it alone during a rewrap (another replica has promoted it
	// already).
	Status(id uint32) (keyring.Status, bool)

	// Generation numbers the versions of the key set: every edit makes a
	// higher one (keyring.Keyring.Generation). The store refuses to go
	// back to a lower generation, in memory and across restarts.
	Generation() uint64
}

var _ Keys = (*keyring.KEK)(nil)

// Store is the encrypting decorator over a backend: the request path of an
// auth server. It takes and returns plaintext [accountvault.Account]s and
// hands the backend only [accountvault.SealedRow]s. It is safe for
// concurrent use.
//
// The operator's work on the same table (rewrap, check, legacy sealing,
// key retirement, keyring checks and file watching) is on [Admin].
type Store struct {
	b     accountvault.Backend
	meta  accountvault.Metadata // nil if the backend keeps none
	table string
	log   *slog.Logger

	legacyRead bool           // WithLegacyPlaintext
	betterAuth betterAuthMode // WithBetterAuthSecrets, WithBetterAuthPlaintext

	keys     atomic.Pointer[keyVersion] // the current version
	reloadMu sync.Mutex                 // serialises Reload's check and swap

	// verified is the key version that was last found able to open the
	// table's data; calls verify again when keys differs from it.
	probeMu  sync.Mutex
	verified atomic.Pointer[keyVersion]
	// anchored is set once a key version passed verify: every later
	// version descends from it through Reload's successor check, so a
	// recorded generation above one of them means other replicas are
	// ahead, not that it is a rollback (see raiseGeneration).
	anchored atomic.Bool

	pw passwords

	leases leaseSightings // see AcquireLease
}

// keyVersion boxes one Keys value, so that versions compare by identity
// whatever the implementation.
type keyVersion struct{ Keys }

// Option configures a Store.
type Option func(*config) error

type config struct {
	table      string
	legacy     bool
	betterAuth betterAuthMode
	log        *slog.Logger
	hasher     *password.Hasher

	noPasswordUpgrade bool // WithoutPasswordUpgrade
}

// WithTable names the table that sealed values are bound to. It is needed
// only when the backend does not implement [accountvault.TableNamer]; if it
// does, the two must agree.
func WithTable(name string) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("store: WithTable: empty table name")
		}
		c.table = name
		return nil
	}
}

// WithLegacyPlaintext lets the store read a table that is being adopted:
// a token value that is legacy plaintext (see [Admin.EncryptLegacy] for
// what counts) is returned as it is instead of failing with
// [accountvault.ErrLegacyPlaintext]. Writes are always sealed.
//
// A legacy value that has the shape of better-auth ciphertext is opened
// with the secrets of [WithBetterAuthSecrets], returned as it is under
// [WithBetterAuthPlaintext], and fails with [ErrBetterAuthCiphertext]
// otherwise: an application that reads a table adopted from a
// better-auth deployment whose encryptOAuthTokens was on needs
// WithBetterAuthSecrets here, or must not read through the store until
// EncryptLegacy has finished.
//
// Legacy plaintext is whatever the database holds: in this mode the
// application trusts every database writer with the tokens it reads. Use
// it only between adopting a table and sealing its legacy values. The
// store refuses it, at its first call, on a table whose adoption has
// finished (or that its backend never adopted): there, a plaintext value
// can only be planted or corrupted.
func WithLegacyPlaintext() Option {
	return func(c *config) error { c.legacy = true; return nil }
}

// WithLogger sets the logger that receives audit events (keyring reloads,
// failures to open, rewrap and check runs, password-hash upgrades,
// erasures). Events carry row ids, columns, key ids and counts; never a
// token, key, password or hash. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("store: WithLogger: nil logger")
		}
		c.log = l
		return nil
	}
}

// New returns a Store that seals tokens written to b with keys' primary
// key-encryption key and opens them with any key keys accepts.
//
// New does no I/O. At its first call, and after every [Store.Reload], the
// store checks that keys can open the table's data (see
// [Admin.CheckKeyring]) and fails with [ErrWrongKeyring] otherwise.
func New(b accountvault.Backend, keys Keys, opts ...Option) (*Store, error) {
	if b == nil {
		return nil, errors.New("store: nil backend")
	}
	c := config{log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if err := c.betterAuth.check(); err != nil {
		return nil, err
	}
	if tn, ok := b.(accountvault.TableNamer); ok {
		if c.table != "" && c.table != tn.Table() {
			return nil, fmt.Errorf("store: WithTable(%q) disagrees with the backend's table %q", c.table, tn.Table())
		}
		c.table = tn.Table()
	}
	if c.table == "" {
		return nil, errors.New("store: backend does not name its table: use WithTable")
	}
	s := &Store{b: b, table: c.table, legacyRead: c.legacy, betterAuth: c.betterAuth, log: c.log}
	s.meta, _ = b.(accountvault.Metadata)
	if err := s.Reload(keys); err != nil {
		return nil, err
	}
	if err := s.pw.init(c.hasher, c.noPasswordUpgrade); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload makes keys the key version the store seals and opens with,
// atomically: calls already in flight seal with the version they started
// with, but open the rows they read after the swap with keys (which may be
// needed for what calls begun after it wrote); later calls use keys. keys
// is checked once, before its first use, to open the table's data. It is
// how running replicas pick up a staged or promoted key without a restart
// ([Admin.WatchKeyringFile] calls it).
//
// Reload refuses a rollback, with an error wrapping [keyring.ErrRollback]
// (a *[keyring.RollbackError]) and an audit event, and the store keeps the
// keys it has: keys of a lower generation than the current ones, or, for a
// *keyring.KEK, any successor [keyring.CheckSuccessor] refuses (one that
// drops the current primary key, or enables a key the current keys have
// disabled or deleted). The check against the generation recorded in the
// database, which also covers a restarted replica, runs at the first call
// after the reload.
func (s *Store) Reload(keys Keys) error {
	if keys == nil {
		return errors.New("store: nil keys")
	}
	if len(keys.KeyIDs()) == 0 {
		return errors.New("store: keys hold no key")
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if cur := s.keys.Load(); cur != nil {
		if err := successor(cur.Keys, keys); err != nil {
			s.log.Warn("accountvault: keyring refused: rollback", "table", s.table, "error", err.Error(),
				"generation", cur.Generation(), "refused_generation", keys.Generation())
			return fmt.Errorf("store: Reload: %w", err)
		}
	}
	s.keys.Store(&keyVersion{keys})
	s.log.Info("accountvault: keyring loaded", "table", s.table, "primary_key_id", keys.PrimaryID(), "key_ids", keys.KeyIDs())
	return nil
}

// Table returns the table name sealed values are bound to.
func (s *Store) Table() string { return s.table }

func (s *Store) place(r *accountvault.SealedRow) envelope.Place {
	return envelope.Place{Table: s.table, UserID: r.UserID, ProviderID: r.ProviderID, AccountID: r.AccountID}
}

// successor returns an error wrapping keyring.ErrRollback if next may not
// replace cur.
func successor(cur, next Keys) error {
	ck, ok1 := cur.(*keyring.KEK)
	nk, ok2 := next.(*keyring.KEK)
	if ok1 && ok2 {
		return keyring.CheckSuccessor(ck, nk)
	}
	if next.Generation() < cur.Generation() {
		return &keyring.RollbackError{Reason: keyring.OlderGeneration, Current: cur.Generation(), Next: next.Generation()}
	}
	return nil
}
