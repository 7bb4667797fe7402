package accountvault

import "context"

// Backend stores sealed rows. Implementations store what they are given:
// they know nothing of encryption, and they never see a plaintext token
// (a [SealedRow] has no field for one). backends/sqlite and
// backends/postgres implement it; backends/backendtest is the conformance
// suite any implementation must pass. Applications do not call a Backend
// directly: they wrap it in package store, which seals and opens.
//
// Every method is safe for concurrent use, takes a context first, and
// returns every failure (SQL, locking, cancellation) as an error: never a
// zero value in its place. A backend keeps no reference to the byte slices
// of a row it is given, and returns rows whose slices are its caller's.
//
// A stored row that the backend cannot read as a SealedRow (a time that is
// not epoch seconds, see [ErrInvalidTime]) fails alone: FindByProvider
// and Upsert return a *[RowError] for it; FindForUser and List return the
// rows they could read together with an error joining one *RowError per
// row they could not (errors.Join), and such a row still counts towards
// List's limit and its cursor. Any other error means the call failed.
type Backend interface {
	// Upsert validates r (an error wrapping ErrInvalidAccount writes
	// nothing), then inserts it, or, if a row with the same (ProviderID,
	// AccountID) exists, updates every other column of that row while
	// keeping its ID and CreatedAt. It returns the row as stored.
	Upsert(ctx context.Context, r SealedRow) (SealedRow, error)

	// FindByProvider returns the row for (providerID, accountID), or an
	// error wrapping ErrNotFound.
	FindByProvider(ctx context.Context, providerID, accountID string) (SealedRow, error)

	// FindForUser returns all rows of userID in id order; none is not an error.
	FindForUser(ctx context.Context, userID string) ([]SealedRow, error)

	// Unlink deletes the row for (providerID, accountID), or returns an
	// error wrapping ErrNotFound if there is none.
	Unlink(ctx context.Context, providerID, accountID string) error

	// DeleteUser deletes every row of userID in one transaction and
	// returns how many it deleted; none is not an error. An empty userID
	// is an error wrapping ErrInvalidArgument, and deletes nothing.
	DeleteUser(ctx context.Context, userID string) (int, error)

	// List returns at most limit rows (limit > 0, else an error wrapping
	// ErrInvalidArgument) whose ID sorts after `after` (byte order), in ID
	// order. Start with after == "" and pass the last ID seen to get the
	// next page (the largest of the rows' IDs and of the RowError IDs);
	// an empty page without RowErrors is the end.
	List(ctx context.Context, after string, limit int) ([]SealedRow, error)

	// CompareAndSwap writes new's AccessToken, RefreshToken, IDToken,
	// AccessTokenExpiresAt, RefreshTokenExpiresAt, Scope, Password and
	// UpdatedAt (now, if zero) to the row old.ID, in one atomic statement,
	// only if that row still has old's UserID, ProviderID, AccountID and
	// the same four secret columns (three tokens and password, compared as
	// bytes) as old. Otherwise, including when the row is gone, it returns
	// an error wrapping ErrConflict and writes nothing. new must have old's
	// ID, UserID, ProviderID and AccountID and pass Validate.
	CompareAndSwap(ctx context.Context, old, new SealedRow) error
}

// TableNamer is implemented by backends that store rows in a named table.
// The store binds sealed values to the table name.
type TableNamer interface {
	Table() string
}

// Metadata is implemented by backends that keep a few small named values
// beside their table (backends/sqlite and backends/postgres keep them in
// the table accountvault_meta, one set per accounts table). The store keeps
// there what it must remember about the table across restarts and
// replicas: whether the table is being adopted (and so may still hold
// legacy plaintext), and its key-check value. A backend without it still
// works: its table then never holds legacy plaintext, and the store checks
// a keyring against sampled rows only.
//
// Values are small (at most MaxMetaSize bytes) and are not secret (a
// database keyring is encrypted under the master key), but a database
// writer can change them like any row.
type Metadata interface {
	// Meta returns the value of name, or an error wrapping ErrNotFound if
	// it is unset.
	Meta(ctx context.Context, name string) ([]byte, error)

	// SwapMeta sets name to new (nil unsets it) if its value is old (nil:
	// unset), atomically. Otherwise it returns an error wrapping
	// ErrConflict and changes nothing.
	SwapMeta(ctx context.Context, name string, old, new []byte) error
}

// MaxMetaSize bounds a [Metadata] value, in bytes: 1 MiB, the most an
// encrypted keyring holds (package store keeps a database keyring there;
// one of 1000 keys, the most a keyring has, takes about 280 KiB).
const MaxMetaSize = 1 << 20

// A Swap is one compare-and-swap of a batch: write New over the row Old.ID
// if that row still holds Old, exactly as [Backend.CompareAndSwap](ctx,
// Old, New) would.
type Swap struct {
	Old, New SealedRow
}

// MaxSwapBatch bounds the number of swaps in one
// [BatchSwapper.CompareAndSwapBatch] call.
const MaxSwapBatch = 10_000

// BatchSwapper is implemented by backends that can run many
// compare-and-swaps in one round trip to the database (backends/postgres
// runs them as one statement; backends/sqlite as one transaction). Package
// store uses it, when the backend has it, to write a page of a walk
// (Rewrap, EncryptLegacy) at once instead of one commit per row.
//
// Each swap keeps the semantics of [Backend.CompareAndSwap] exactly: a
// swap whose row no longer holds its Old values (a concurrent write, or a
// deletion, came first) writes nothing and fails with an error wrapping
// ErrConflict, and never overwrites that write; a swap that breaks
// CompareAndSwap's preconditions (an error wrapping ErrInvalidAccount), or
// whose Old.ID an earlier swap of the same batch names (an error wrapping
// ErrInvalidArgument), is refused alone. Such a swap's failure does not
// affect the others.
type BatchSwapper interface {
	// CompareAndSwapBatch runs the swaps and returns one result per swap,
	// in order: nil if it was written, else why not (see above). The
	// batch is atomic: if err is not nil, no swap was written, and
	// results is nil. (As for any write, a connection lost while the
	// database commits leaves the outcome unknown; running the batch again
	// is then safe, as a swap already applied fails with ErrConflict.)
	// An empty batch does nothing; more than MaxSwapBatch swaps is an
	// error wrapping ErrInvalidArgument.
	CompareAndSwapBatch(ctx context.Context, swaps []Swap) (results []error, err error)
}
