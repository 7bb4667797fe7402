// Package backendtest is the conformance suite of [accountvault.Backend].
// Every backend in this module passes it, and a third-party backend can run
// it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) accountvault.Backend {
//			b := mybackend.New(…) // an empty, freshly migrated table
//			t.Cleanup(func() {
//				if err := b.Close(); err != nil {
//					t.Error(err)
//				}
//			})
//			return b
//		})
//	}
//
// The suite checks the documented semantics of every method on
// [accountvault.SealedRow]s: the upsert key and what it keeps, NULL and
// byte-exact round trips of the columns (an empty token reads back as
// nil), id (byte) order and paging, compare-and-swap (the tokens,
// password, expiries and scope written together or not at all),
// DeleteUser (every row of the user and only those, counted), concurrent
// writers, cancellation, that a backend keeps no reference to the token
// slices it is given or returns, that every invalid row is refused with
// [accountvault.ErrInvalidAccount] with nothing written, and that a bad
// List limit or cursor and an empty DeleteUser id are refused with
// [accountvault.ErrInvalidArgument]. Failure messages name fields and
// lengths, never token or password values.
//
// A backend that has a Count(ctx) (int64, error) method, as the command-line
// tool expects of one, is checked for it too; for any other, that subtest
// is skipped.
//
// The subtests of [Run] run one after another, and each gets a Backend of
// its own. The List subtest stores [ListRows] rows through Upsert from four
// goroutines; the concurrency subtests start 16 writers at once.
//
// [Benchmark] measures the common calls of any backend under the same
// names (BenchmarkXxx/Upsert, /FindByProvider, /FindForUser), so that
// benchstat compares backends, or versions of one, directly.
package backendtest
