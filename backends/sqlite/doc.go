// Package sqlite stores accountvault's sealed rows
// ([accountvault.SealedRow]) in a SQLite database through
// modernc.org/sqlite (pure Go, no cgo).
//
// [Open] opens a database file, or ":memory:", and owns the resulting
// *sql.DB; [New] uses the application's own *sql.DB, which it never
// closes. Either way, call [Backend.Migrate] before use (applications call
// it at every start): it creates the table, its unique (provider_id,
// account_id) key and its user_id index, and records the schema version in
// the table accountvault_schema. A table of that name that Migrate did not
// create, such as the account table of better-auth or pylon, is refused
// with a [*TableError] that changes nothing. Adopting such a table is the
// operator's explicit step, [Backend.Adopt] (`accountvault migrate`): it
// rebuilds the table with BLOB tokens and INTEGER times, every value kept,
// or refuses it, again changing nothing ([Backend.Adopt] says how).
//
// # Connection settings
//
// Open sets, in the DSN so that every connection the pool opens runs them:
//
//	PRAGMA busy_timeout = 5000   (see WithBusyTimeout)
//	PRAGMA journal_mode = WAL    (readers do not block the writer)
//	PRAGMA synchronous = NORMAL  (durable across crashes of the process,
//	                              not of the machine, in WAL mode)
//	_txlock=immediate            (transactions take the write lock first)
//
// An in-memory database exists only inside its connection, so Open limits
// the pool of one to a single connection. With New, these settings are the
// application's to choose; without a busy_timeout, concurrent writers fail
// with SQLITE_BUSY rather than wait.
//
// # Storage
//
// Tokens are BLOBs (an empty token is NULL), expiry and row times are
// INTEGER epoch seconds, read back as UTC. IDs compare in byte order
// (SQLite's BINARY collation), as List requires. Every write is a single
// statement: Upsert is INSERT … ON CONFLICT (provider_id, account_id) DO
// UPDATE … RETURNING, and CompareAndSwap one UPDATE whose WHERE clause is
// the comparison.
//
// # Concurrency and errors
//
// A Backend is safe for concurrent use. SQLite admits one writer at a
// time; other writers wait up to the busy timeout. Open's pool holds up to
// max(4, GOMAXPROCS) connections, and callers beyond that wait for one as
// their contexts allow; New leaves pool sizing to the application. Each
// statement is prepared on first use, then once per pooled connection;
// [Backend.Close] releases them (and, after Open, closes the pool).
//
// [Backend.Count] counts the rows, for progress estimates; it scans the
// table.
//
// Errors wrap the driver's error and, once the context is done, the
// context's error, and never contain bound values such as tokens or
// password hashes.
package sqlite
