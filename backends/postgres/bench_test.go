package postgres_test

import (
	"testing"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/backendtest"
	"github.com/accountvault/accountvault/internal/pgtest"
)

// BenchmarkBackend measures the test server over a pool of the default
// size, on the loopback interface.
func BenchmarkBackend(b *testing.B) {
	pool := pgtest.Pool(b)
	backendtest.Benchmark(b, func(b *testing.B) accountvault.Backend { return newBackend(b, pool) })
}
