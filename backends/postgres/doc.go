// Package postgres stores accountvault's sealed rows
// ([accountvault.SealedRow]) in a Postgres table through pgx
// (github.com/jackc/pgx/v5) and its pgxpool.
//
// [Open] connects a pool of its own and [Backend.Close] closes it; [New]
// uses the application's *pgxpool.Pool, which the Backend never closes and
// never bypasses: it opens no connection of its own. Either way, call
// [Backend.Migrate] before use (applications call it at every start): it
// creates the table, its unique (provider_id, account_id) key and its
// user_id index, and records the schema version in the table
// accountvault_schema, under an advisory lock so that replicas starting
// together do not race. A table of that name that Migrate did not create,
// such as the account table of better-auth or pylon, is refused with a
// [*TableError] that changes nothing. Adopting such a table is the
// operator's explicit step, [Backend.Adopt] (`accountvault migrate`): its
// text tokens become bytea and its timestamps bigint epoch seconds, in
// place and every value kept, or it is refused, again changing nothing
// ([Backend.Adopt] says how). A conversion leaves the statements pgx
// prepared on the table before it stale: Adopt resets the pool, and other
// processes that queried the table must reconnect.
//
// # Storage
//
// Tokens are BYTEA (an empty token is NULL); expiry and row times are
// BIGINT epoch seconds, read back as UTC. The id column is declared
// COLLATE "C", and every comparison and ORDER BY on it names that
// collation, so IDs sort in byte order, as List requires and as the SQLite
// backend sorts them, whatever the database's default collation. Every
// write is a single statement: Upsert is INSERT … ON CONFLICT (provider_id,
// account_id) DO UPDATE … RETURNING, and CompareAndSwap one UPDATE whose
// WHERE clause is the comparison (IS NOT DISTINCT semantics: NULL equals
// an empty value).
//
// # Concurrency and errors
//
// A Backend is safe for concurrent use; it holds a pooled connection only
// for the duration of one call. pgx prepares and caches each statement per
// connection; after a conversion of the table's column types (Adopt, or
// Migrate of a table an earlier release recorded at version 1) the pool is
// reset, so that no call meets a statement that Postgres would refuse
// ("cached plan must not change result type"). [Backend.Count] counts the
// rows, for progress estimates; it
// scans the table. Errors wrap pgx's error and, once the context is done, the
// context's error; pgx reports server errors without the bound values, so
// no token or password hash reaches an error message.
//
// After the network to the server is cut, pgxpool hands out its idle
// connections, which are dead, until each has failed once: up to the pool
// size of calls fail with "unexpected EOF" before the pool recovers (pgxpool
// pings only connections idle for over a second). An application that
// wants fewer such failures sets pgxpool.Config.ShouldPing. A write whose
// connection is cut after the server received it may still commit after
// the call has returned its error.
package postgres
