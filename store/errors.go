package store

import (
	"errors"

	"github.com/accountvault/accountvault"
)

// ErrWrongKeyring is returned at first use (and by [Admin.CheckKeyring])
// when the keyring opens neither the table's key-check value nor any of the
// sealed values it samples from the table: the store was most likely given
// another deployment's keyring, or the wrong table name. It is returned
// together with the cause (ErrUnknownKey or ErrDecrypt), so errors.Is
// matches both.
var ErrWrongKeyring = errors.New("store: the keyring cannot open this table's data")

// ErrLegacyClosed is returned at first use by a store opened with
// [WithLegacyPlaintext] on a table that is not being adopted: one whose
// legacy sealing has finished, or that was never adopted. There, every
// unsealed value is planted or corrupt.
var ErrLegacyClosed = errors.New("store: WithLegacyPlaintext on a table that is not being adopted")

// ErrMissingKeys is returned by [Admin.Rewrap] (and [Admin.CheckKeys]) when
// stored values name keys that the store's keys do not hold enabled:
// rewrapping would fail for every such row. The error is a
// *[MissingKeysError].
var ErrMissingKeys = errors.New("store: stored values name keys the keyring does not hold enabled")

// ErrPasswordNotHashed is accountvault.ErrPasswordNotHashed, repeated here
// for convenience. Writes whose Password is not a recognised hash fail with
// an error matching both it and accountvault.ErrInvalidAccount.
var ErrPasswordNotHashed = accountvault.ErrPasswordNotHashed

type passwordNotHashedError struct{}

func (passwordNotHashedError) Error() string {
	return "store: Password is not a recognised password hash (plaintext passwords are never written; use SetPassword)"
}

func (passwordNotHashedError) Is(target error) bool {
	return target == accountvault.ErrPasswordNotHashed || target == accountvault.ErrInvalidAccount
}

var errPasswordNotHashed error = passwordNotHashedError{}
