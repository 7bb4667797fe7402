package accountvault

import "context"

// Backend stores Accounts. Implementations store what they are given: they
// know nothing of encryption, and the token fields they receive from the
// store are already sealed. backends/sqlite and backends/postgres implement
// it; backends/backendtest is the conformance suite any implementation must
// pass.
//
// Every method is safe for concurrent use, takes a context first, and
// returns every failure (SQL, locking, cancellation) as an error: never a
// zero value in its place.
type Backend interface {
	// Upsert validates a (an error wrapping ErrInvalidAccount writes
	// nothing), then inserts it, or, if a row with the same (ProviderID,
	// AccountID) exists, updates every other column of that row while
	// keeping its ID and CreatedAt. It returns the row as stored.
	Upsert(ctx context.Context, a Account) (Account, error)

	// FindByProvider returns the row for (providerID, accountID), or an
	// error wrapping ErrNotFound.
	FindByProvider(ctx context.Context, providerID, accountID string) (Account, error)

	// FindForUser returns all rows of userID in id order; none is not an error.
	FindForUser(ctx context.Context, userID string) ([]Account, error)

	// Unlink deletes the row for (providerID, accountID), or returns an
	// error wrapping ErrNotFound if there is none.
	Unlink(ctx context.Context, providerID, accountID string) error

	// List returns at most limit rows (limit > 0) whose ID sorts after
	// `after` (byte order), in ID order. Start with after == "" and pass
	// the last ID seen to get the next page; an empty page is the end.
	List(ctx context.Context, after string, limit int) ([]Account, error)

	// CompareAndSwap writes new's AccessToken, RefreshToken, IDToken,
	// Password and UpdatedAt (now, if zero) to the row old.ID, only if that
	// row still has old's UserID, ProviderID, AccountID and the same four
	// secret columns as old. Otherwise, including when the row is gone, it
	// returns an error wrapping ErrConflict and writes nothing. new must
	// have old's ID, UserID, ProviderID and AccountID and pass Validate.
	CompareAndSwap(ctx context.Context, old, new Account) error
}

// TableNamer is implemented by backends that store rows in a named table.
// The store binds sealed values to the table name.
type TableNamer interface {
	Table() string
}
