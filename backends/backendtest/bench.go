package backendtest

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/accountvault/accountvault"
)

// BenchRows is the number of rows Benchmark stores before it measures.
const BenchRows = 999

// BenchTokenSize is the size of each of the three tokens Benchmark
// writes: about a sealed OAuth token.
const BenchTokenSize = 1 << 10

// Benchmark measures a backend's common calls as sub-benchmarks, so that
// `go test -bench` prints BenchmarkXxx/Upsert, /FindByProvider and
// /FindForUser for any backend:
//
//   - Upsert updates one of BenchRows stored rows (a token refresh), its
//     three tokens of BenchTokenSize random bytes each;
//   - FindByProvider reads one such row;
//   - FindForUser reads the three rows of one user.
//
// newBackend is called once per sub-benchmark and must return a Backend
// over an empty table.
func Benchmark(b *testing.B, newBackend func(b *testing.B) accountvault.Backend) {
	rows := make([]accountvault.SealedRow, BenchRows)
	providers := []string{"google", "github", "microsoft"}
	for i := range rows {
		rows[i] = accountvault.SealedRow{
			ID:                    fmt.Sprintf("acc-%04d", i),
			UserID:                fmt.Sprintf("user-%04d", i/len(providers)),
			ProviderID:            providers[i%len(providers)],
			AccountID:             fmt.Sprintf("subject-%04d", i),
			AccessToken:           randomBytes(BenchTokenSize),
			RefreshToken:          randomBytes(BenchTokenSize),
			IDToken:               randomBytes(BenchTokenSize),
			AccessTokenExpiresAt:  at(3600),
			RefreshTokenExpiresAt: at(86400),
			Scope:                 "openid email profile",
			CreatedAt:             base,
		}
	}
	setup := func(b *testing.B) accountvault.Backend {
		be := newBackend(b)
		for _, a := range rows {
			if _, err := be.Upsert(b.Context(), a); err != nil {
				b.Fatal(err)
			}
		}
		return be
	}

	b.Run("Upsert", func(b *testing.B) {
		be := setup(b)
		fresh := make([][]byte, 3*len(rows))
		for i := range fresh {
			fresh[i] = randomBytes(BenchTokenSize)
		}
		b.SetBytes(3 * BenchTokenSize)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			a := rows[i%len(rows)]
			a.AccessToken, a.RefreshToken, a.IDToken = fresh[i%len(fresh)], fresh[(i+1)%len(fresh)], fresh[(i+2)%len(fresh)]
			if _, err := be.Upsert(b.Context(), a); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})

	b.Run("FindByProvider", func(b *testing.B) {
		be := setup(b)
		b.SetBytes(3 * BenchTokenSize)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			a := rows[i%len(rows)]
			got, err := be.FindByProvider(b.Context(), a.ProviderID, a.AccountID)
			if err != nil {
				b.Fatal(err)
			}
			if got.ID != a.ID {
				b.Fatalf("FindByProvider returned row %q, want %q", got.ID, a.ID)
			}
			i++
		}
	})

	b.Run("FindForUser", func(b *testing.B) {
		be := setup(b)
		users := len(rows) / len(providers)
		b.SetBytes(int64(len(providers)) * 3 * BenchTokenSize)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			got, err := be.FindForUser(b.Context(), fmt.Sprintf("user-%04d", i%users))
			if err != nil {
				b.Fatal(err)
			}
			if len(got) != len(providers) {
				b.Fatalf("FindForUser returned %d rows, want %d", len(got), len(providers))
			}
			i++
		}
	})
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
