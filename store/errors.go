package store

import (
	"errors"

	"github.com/accountvault/accountvault"
)

// ErrWrongKeyring is returned at first use (and by [Store.Verify]) when the
// keyring can open none of the sealed values it samples from the table: the
// store was most likely given another deployment's keyring, or the wrong
// table name. It is returned together with the cause (ErrUnknownKey or
// ErrDecrypt), so errors.Is matches both.
var ErrWrongKeyring = errors.New("store: the keyring cannot open this table's data")

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
