package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/backendtest"
	"github.com/accountvault/accountvault/backends/sqlite"
)

// BenchmarkBackend measures a database file opened by Open with its
// default settings (WAL, synchronous=NORMAL).
func BenchmarkBackend(b *testing.B) {
	backendtest.Benchmark(b, func(b *testing.B) accountvault.Backend {
		be, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := be.Close(); err != nil {
				b.Error(err)
			}
		})
		if err := be.Migrate(b.Context()); err != nil {
			b.Fatal(err)
		}
		return be
	})
}
