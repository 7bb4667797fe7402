// Package oauth2store is a [golang.org/x/oauth2.TokenSource] that keeps
// its tokens in an accountvault [store.Store]: it serves the stored
// access token while it is valid, and when it has expired, refreshes it
// through an [oauth2.Config] and stores the new access token, refresh
// token, expiry, scope and ID token, sealed, with
// [store.Store.CompareAndSwap]. golang.org/x/oauth2 alone has no way to
// persist a refreshed token.
//
// In the common case:
//
//	src, err := oauth2store.New(ctx, s, cfg, "google", googleSubject)
//	client := oauth2.NewClient(ctx, src) // or src.Token()
//
// # One refresh per expiry, across replicas
//
// Providers that rotate refresh tokens (a refresh returns a new one and
// invalidates the old) and that treat the reuse of an old one as theft
// revoke the whole grant when two refreshes spend the same refresh token:
// the user must link the account again. Two replicas of an application
// that find the same expired token and both refresh it do exactly that.
// A compare-and-swap of the result is not enough: it keeps the row
// consistent, but the second refresh has already reached the provider.
// So a Source makes sure that for one expiry only one caller, among every
// Source in every process over the same table, calls the token endpoint:
//
//   - Within a process, callers for the same store and account share one
//     read and at most one refresh (a process-wide single-flight; Sources
//     over the same *store.Store and account share it).
//   - Across processes, the caller that refreshes first takes the
//     account's refresh lease ([store.Store.AcquireLease]): a small
//     record, with a random holder id and an expiry, kept in the backend's
//     metadata table (accountvault_meta), never in the account row. Of
//     concurrent takers exactly one wins the compare-and-swap that writes
//     it. The holder reads the row again (another holder may have just
//     stored a token), refreshes with the stored refresh token, stores the
//     result by compare-and-swap, and releases the lease.
//   - The others wait: they read the row every poll interval
//     ([WithPollInterval]) and return the first token that is valid, or
//     that differs from the expired one they saw and has not expired
//     (they never refresh what another caller has just refreshed). If the
//     lease is free again and the row still holds the expired token (the
//     holder failed), the next of them takes the lease and tries.
//   - A holder that crashed leaves its lease behind until it expires
//     ([WithLeaseTTL], default 30 s); then a waiter takes it over. To keep
//     a slow holder from overlapping with the one that takes over, the
//     token request is cancelled after half of the lease's life. Once the
//     token endpoint has answered, storing the answer has a lease life of
//     its own, however long the wait for the lease was: an answer that is
//     not stored is a lost grant. A transient database error while storing
//     it (a cut connection, a failover: [accountvault.ErrTransient]) is
//     retried, up to five times within that life; if the write had landed,
//     the retry's swap conflicts with it and the re-read finds this
//     refresh's pair. A caller waits for the lease for up to
//     two of its lives; a lease record that claims a longer life (written
//     by a database writer, or by a replica whose clock ran far ahead) is
//     honoured for one life from when a replica first sees it
//     ([store.Store.AcquireLease]), so every Source must use the same
//     [WithLeaseTTL].
//   - A lost compare-and-swap under the lease means the row was written
//     outside the protocol (a re-link), or by a replica that took over
//     the lease after this holder's lapsed. If the row still holds the
//     refresh token this refresh spent (the server rotated it), the
//     refresh's result is the newest pair and is written over the changed
//     row; if it holds another refresh token, that one is newer, and its
//     access token is returned if usable, or else an error wrapping
//     [accountvault.ErrConflict] (the next call starts over from the row).
//     If the server kept the refresh token, nothing was spent, and a
//     usable access token that someone else stored meanwhile is kept and
//     returned. A refresh token that a refresh has spent is never used
//     again.
//
// A lease left behind by a crashed holder stays in the metadata table
// until the next refresh of the account replaces it; a released one is
// deleted.
//
// The lease changes nothing for the account's other readers and writers:
// the row holds a valid account at every moment, and the lease record is
// not secret and holds no token. The backend must keep metadata
// ([accountvault.Metadata]): backends/sqlite and backends/postgres do. The
// replicas' clocks must agree to well within the lease's life.
//
// What the lease cannot prevent: a refresh whose request reached the
// provider but whose response was lost (the holder crashed, the network
// failed, or the token request timed out) has spent the refresh token, and
// the new one is gone; the next refresh uses the old one and the provider
// answers invalid_grant (and may revoke the grant). Nothing on the client
// side can recover that grant. A database writer can delete or forge a
// lease record, as any row.
//
// Sources over the same store and account in one process share one
// refresh; they should use the same [oauth2.Config] and options.
package oauth2store
