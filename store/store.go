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

// Store is the encrypting decorator. It implements [accountvault.Backend]
// over any other Backend: tokens are sealed before they are written and
// opened after they are read. It is safe for concurrent use.
type Store struct {
	b      accountvault.Backend
	table  string
	legacy bool
	log    *slog.Logger

	kek atomic.Pointer[keyring.KEK] // the current keyring version's primitive

	// verified is the keyring version that Verify last found able to open
	// the table's data; calls run Verify again when kek differs from it.
	probeMu  sync.Mutex
	verified atomic.Pointer[keyring.KEK]

	pw passwords
}

var _ accountvault.Backend = (*Store)(nil)

// Option configures a Store.
type Option func(*config) error

type config struct {
	table  string
	legacy bool
	log    *slog.Logger
	hasher *password.Hasher
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

// WithLegacyPlaintext opens the store in legacy-migration mode: a token
// column value without the sealed format prefix is returned as plaintext
// instead of failing with [accountvault.ErrLegacyPlaintext]. Writes are
// always sealed. Use it only while EncryptLegacy migrates an adopted table.
func WithLegacyPlaintext() Option {
	return func(c *config) error { c.legacy = true; return nil }
}

// WithLogger sets the logger that receives audit events (keyring reloads,
// failures to open, rewrap and check runs, password-hash upgrades). Events
// carry row ids, columns, key ids and counts; never a token, key, password
// or hash. The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("store: WithLogger: nil logger")
		}
		c.log = l
		return nil
	}
}

// New returns a Store that seals tokens written to b with k's primary
// key-encryption key and opens them with any enabled key of k.
//
// The Store builds k's primitive once; later edits to k have no effect
// until they are handed to [Store.Reload].
func New(b accountvault.Backend, k *keyring.Keyring, opts ...Option) (*Store, error) {
	if b == nil {
		return nil, errors.New("store: nil backend")
	}
	if k == nil {
		return nil, errors.New("store: nil keyring")
	}
	c := config{log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
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
	s := &Store{b: b, table: c.table, legacy: c.legacy, log: c.log}
	if err := s.Reload(k); err != nil {
		return nil, err
	}
	if err := s.pw.init(c.hasher); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload makes k the keyring the store seals and opens with, atomically:
// calls already in flight finish with the version they started with, later
// calls use k. Reload builds k's primitive once. It is how running replicas
// pick up a staged or promoted key without a restart.
func (s *Store) Reload(k *keyring.Keyring) error {
	if k == nil {
		return errors.New("store: Reload: nil keyring")
	}
	kek, err := k.KEK()
	if err != nil {
		return fmt.Errorf("store: building keyring primitive: %w", err)
	}
	s.kek.Store(kek)
	s.log.Info("accountvault: keyring loaded", "table", s.table, "primary_key_id", kek.PrimaryID(), "key_ids", kek.KeyIDs())
	return nil
}

// PrimaryKeyID returns the id of the key-encryption key that new writes use.
func (s *Store) PrimaryKeyID() uint32 { return s.kek.Load().PrimaryID() }

// KeyIDs returns the ids of the keys the store can open values with.
func (s *Store) KeyIDs() []uint32 { return s.kek.Load().KeyIDs() }

// Backend returns the backend the store wraps.
func (s *Store) Backend() accountvault.Backend { return s.b }

// Table returns the table name sealed values are bound to.
func (s *Store) Table() string { return s.table }

func (s *Store) place(a *accountvault.Account) envelope.Place {
	return envelope.Place{Table: s.table, UserID: a.UserID, ProviderID: a.ProviderID, AccountID: a.AccountID}
}
