package backendtest

import (
	"testing"

	"github.com/accountvault/accountvault"
)

// ListRows is the number of rows the List subtest pages over.
const ListRows = 10_000

// Run runs the conformance suite as subtests of t. newBackend is called
// once per subtest, with that subtest's t, and must return a Backend over
// an empty table; it should register the Backend's cleanup with t.Cleanup.
// The subtests run one after another.
func Run(t *testing.T, newBackend func(t *testing.T) accountvault.Backend) {
	tests := []struct {
		name string
		f    func(t *testing.T, b accountvault.Backend)
	}{
		{"UpsertThenFind", testUpsertThenFind},
		{"Timestamps", testTimestamps},
		{"FindMissing", testFindMissing},
		{"FindForUser", testFindForUser},
		{"UpsertKeepsIDAndCreatedAt", testUpsertKeeps},
		{"UpsertDuplicateID", testUpsertDuplicateID},
		{"Unlink", testUnlink},
		{"DeleteUser", testDeleteUser},
		{"NoAliasing", testNoAliasing},
		{"Password", testPassword},
		{"EmptyValues", testEmptyValues},
		{"Expiries", testExpiries},
		{"BinaryTokens", testBinaryTokens},
		{"MaxSizes", testMaxSizes},
		{"Validation", testValidation},
		{"UnstorableKeys", testUnstorableKeys},
		{"ListByteOrder", testListByteOrder},
		{"ListPages", testListPages},
		{"ListUsage", testListUsage},
		{"ConcurrentUpsert", testConcurrentUpsert},
		{"CompareAndSwap", testCompareAndSwap},
		{"CompareAndSwapRefresh", testCompareAndSwapRefresh},
		{"CompareAndSwapChangedColumn", testCompareAndSwapChanged},
		{"CompareAndSwapGone", testCompareAndSwapGone},
		{"CompareAndSwapEmptyTokens", testCompareAndSwapEmpty},
		{"CompareAndSwapInvalid", testCompareAndSwapInvalid},
		{"SwapBatch", testSwapBatch},
		{"SwapBatchEmpty", testSwapBatchEmpty},
		{"SwapBatchRace", testSwapBatchRace},
		{"Cancelled", testCancelled},
		{"DeadlineMidway", testDeadlineMidway},
		{"TableNamer", testTableNamer},
		{"Count", testCount},
		{"Metadata", testMetadata},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.f(t, newBackend(t))
		})
	}
}
