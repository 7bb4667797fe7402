package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/backendtest"
	"github.com/accountvault/accountvault/backends/postgres"
	"github.com/accountvault/accountvault/internal/pgtest"
)

// newBackend returns a migrated Backend over the test pool, on a table of
// its own that is dropped when t ends.
func newBackend(t testing.TB, pool *pgxpool.Pool, opts ...postgres.Option) *postgres.Backend {
	t.Helper()
	opts = append([]postgres.Option{postgres.WithTable(pgtest.Table(t))}, opts...)
	b, err := postgres.New(pool, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	pool := pgtest.Pool(t)
	backendtest.Run(t, func(t *testing.T) accountvault.Backend { return newBackend(t, pool) })
}

// TestConformanceOpen runs the suite over pools that the Backend opens
// and closes itself.
func TestConformanceOpen(t *testing.T) {
	pgtest.Pool(t) // skip early if the server is unreachable
	backendtest.Run(t, func(t *testing.T) accountvault.Backend {
		b, err := postgres.Open(t.Context(), pgtest.URL(), postgres.WithTable(pgtest.Table(t)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Error(err)
			}
		})
		if err := b.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestNewLeavesPoolOpen(t *testing.T) {
	pool := pgtest.Pool(t)
	b := newBackend(t, pool)
	if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{b.Table()}.Sanitize()).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after Close, the application's pool: count %d, %v", n, err)
	}
	if _, err := postgres.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestOpenCloseOwnsPool(t *testing.T) {
	pgtest.Pool(t)
	b, err := postgres.Open(t.Context(), pgtest.URL(), postgres.WithTable(pgtest.Table(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FindByProvider(t.Context(), "p", "s"); err == nil || errors.Is(err, accountvault.ErrNotFound) {
		t.Fatalf("FindByProvider after Close: %v, want a closed-pool error", err)
	}
}

func TestOpenErrors(t *testing.T) {
	pgtest.Pool(t)
	// A password in the URL never reaches the error.
	const secret = "s3cr3t-Passw0rd"
	for _, url := range []string{
		"postgres://root:" + secret + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=2",
		"postgres://root:" + secret + "@127.0.0.1:5432/test?sslmode=bogus",
		"host=127.0.0.1 port=1 password=" + secret + " connect_timeout=2",
	} {
		b, err := postgres.Open(t.Context(), url)
		if err == nil {
			b.Close()
			t.Errorf("Open succeeded on a bad URL")
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open error contains the password")
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := postgres.Open(ctx, pgtest.URL()); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context: %v", err)
	}
	if _, err := postgres.Open(t.Context(), pgtest.URL(), postgres.WithTable("bad name")); err == nil {
		t.Error("Open accepted a bad table name")
	}
}

func TestWithTable(t *testing.T) {
	pool := pgtest.Pool(t)
	for _, name := range []string{"a", "_", "Accounts_2", "_x9"} {
		b, err := postgres.New(pool, postgres.WithTable(name))
		if err != nil {
			t.Errorf("WithTable(%q): %v", name, err)
		} else if b.Table() != name {
			t.Errorf("Table() = %q, want %q", b.Table(), name)
		}
	}
	bad := []string{"", "1abc", "a-b", "a b", `a"b`, "a;DROP TABLE x", "naïve", strings.Repeat("t", 64),
		"accountvault_schema", "AccountVault_Schema", "a\x00"}
	for _, name := range bad {
		if _, err := postgres.New(pool, postgres.WithTable(name)); err == nil {
			t.Errorf("WithTable(%q) accepted", name)
		}
		if _, err := postgres.New(pool, postgres.WithSchema(name)); err == nil && name != "accountvault_schema" && name != "AccountVault_Schema" {
			t.Errorf("WithSchema(%q) accepted", name)
		}
	}
	b, err := postgres.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	if b.Table() != "accounts" {
		t.Errorf("default Table() = %q", b.Table())
	}

	// Mixed case is kept (quoted), and two long names that share their
	// first 60 bytes get distinct indexes.
	long := strings.Repeat("L", 60)
	for _, suffix := range []string{"abc", "xyz"} {
		name := long + suffix
		tb := newBackendNamed(t, pool, "", name)
		if _, err := tb.Upsert(t.Context(), accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s"}); err != nil {
			t.Fatalf("table %s: %v", name, err)
		}
		var n int
		if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_indexes WHERE tablename = $1`, name).Scan(&n); err != nil || n != 3 {
			t.Errorf("table %s has %d indexes, %v; want 3 (primary key, unique pair, user_id)", name, n, err)
		}
	}
}

// newBackendNamed migrates a Backend on the named table (in schema, if not
// empty), dropped when t ends.
func newBackendNamed(t *testing.T, pool *pgxpool.Pool, schema, name string) *postgres.Backend {
	t.Helper()
	opts := []postgres.Option{postgres.WithTable(name)}
	if schema != "" {
		opts = append(opts, postgres.WithSchema(schema))
	}
	b, err := postgres.New(pool, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pgtest.Drop(context.Background(), pool, schema, name); err != nil {
			t.Error(err)
		}
	})
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWithSchema(t *testing.T) {
	pool := pgtest.Pool(t)
	schema := pgtest.Table(t) // a unique name; it is a schema here
	if _, err := pool.Exec(t.Context(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	table := "accounts"
	b := newBackendNamed(t, pool, schema, table)
	if b.Table() != table {
		t.Errorf("Table() = %q, want %q", b.Table(), table)
	}
	if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s"}); err != nil {
		t.Fatal(err)
	}
	var n, version int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM `+schema+`.accounts`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%s.accounts holds %d rows, %v", schema, n, err)
	}
	if err := pool.QueryRow(t.Context(), `SELECT version FROM `+schema+`.accountvault_schema WHERE table_name = 'accounts'`).Scan(&version); err != nil || version != postgres.SchemaVersion {
		t.Errorf("%s.accountvault_schema: version %d, %v", schema, version, err)
	}
	// A schema that does not exist: Migrate fails and creates nothing.
	missing, err := postgres.New(pool, postgres.WithSchema(schema+"_missing"), postgres.WithTable(pgtest.Table(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := missing.Migrate(t.Context()); err == nil {
		t.Error("Migrate in a missing schema succeeded")
	}
}

func TestMigrateIdempotent(t *testing.T) {
	pool := pgtest.Pool(t)
	b := newBackend(t, pool)
	a, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s", AccessToken: []byte("tok")})
	if err != nil {
		t.Fatal(err)
	}
	// Migrate verifies the table it created and changes nothing, and so
	// does Adopt on it.
	created := snapshot(t, pool, b.Table())
	for range 2 {
		if err := b.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate of its own table: %v", err)
		}
		if err := b.Adopt(t.Context()); err != nil {
			t.Fatalf("Adopt of Migrate's table: %v", err)
		}
	}
	if snapshot(t, pool, b.Table()) != created {
		t.Error("Migrate or Adopt of Migrate's own table changed it")
	}
	got, err := b.FindByProvider(t.Context(), "p", "s")
	if err != nil || got.ID != a.ID || !bytes.Equal(got.AccessToken, a.AccessToken) {
		t.Fatalf("row after repeated Migrate: id %q, %v", got.ID, err)
	}
	var version int
	if err := pool.QueryRow(t.Context(), `SELECT version FROM accountvault_schema WHERE table_name = $1`, b.Table()).Scan(&version); err != nil || version != postgres.SchemaVersion {
		t.Errorf("recorded version %d, %v; want %d", version, err, postgres.SchemaVersion)
	}
	// A version from the future is refused.
	if _, err := pool.Exec(t.Context(), `UPDATE accountvault_schema SET version = 99 WHERE table_name = $1`, b.Table()); err != nil {
		t.Fatal(err)
	}
	if err := b.Migrate(t.Context()); err == nil || !strings.Contains(err.Error(), "99") {
		t.Errorf("Migrate over version 99: %v, want an error naming the version", err)
	}
	if err := b.Adopt(t.Context()); err == nil || !strings.Contains(err.Error(), "99") {
		t.Errorf("Adopt over version 99: %v, want an error naming the version", err)
	}
	if snapshot(t, pool, b.Table()) != created {
		t.Error("the refused Migrate changed the table")
	}
}

// TestAdoptCreates checks that Adopt of a table that does not exist
// creates it as Migrate does, and records it as Migrate's.
func TestAdoptCreates(t *testing.T) {
	pool := pgtest.Pool(t)
	var snaps []string
	for _, adopt := range []bool{false, true} {
		b, err := postgres.New(pool, postgres.WithTable(pgtest.Table(t)))
		if err != nil {
			t.Fatal(err)
		}
		if adopt {
			err = b.Adopt(t.Context())
		} else {
			err = b.Migrate(t.Context())
		}
		if err != nil {
			t.Fatalf("creating the table (adopt %v): %v", adopt, err)
		}
		if err := b.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate after creating the table (adopt %v): %v", adopt, err)
		}
		// The same definitions, but for the table's own name.
		snaps = append(snaps, strings.ReplaceAll(snapshot(t, pool, b.Table()), b.Table(), "T"))
	}
	if snaps[0] != snaps[1] {
		t.Errorf("Adopt created another table than Migrate:\n%s\n%s", snaps[0], snaps[1])
	}
}

// TestMigrateConcurrent runs Migrate on one new table from several pools
// at once, as replicas starting together would.
func TestMigrateConcurrent(t *testing.T) {
	pgtest.Pool(t)
	table := pgtest.Table(t)
	const replicas = 6
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() {
			b, err := postgres.Open(t.Context(), pgtest.URL(), postgres.WithTable(table))
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = errors.Join(b.Migrate(t.Context()), b.Close())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	b, err := postgres.New(pgtest.Pool(t), postgres.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s"}); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateCancelled(t *testing.T) {
	pool := pgtest.Pool(t)
	b, err := postgres.New(pool, postgres.WithTable(pgtest.Table(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Migrate(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Migrate with a cancelled context: %v", err)
	}
	if _, err := b.FindByProvider(t.Context(), "p", "s"); err == nil || errors.Is(err, accountvault.ErrNotFound) {
		t.Fatalf("cancelled Migrate created the table: %v", err)
	}
	if err := b.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestByteOrderAnyCollation checks that List and FindForUser order ids as
// bytes even on a table, adopted from elsewhere, whose id column has a
// linguistic collation.
func TestByteOrderAnyCollation(t *testing.T) {
	pool := pgtest.Pool(t)
	var icu bool
	if err := pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')`).Scan(&icu); err != nil {
		t.Fatal(err)
	}
	if !icu {
		t.Skip("server has no ICU collation und-x-icu")
	}
	table := pgtest.Table(t)
	if _, err := pool.Exec(t.Context(), `CREATE TABLE `+table+` (
		id TEXT COLLATE "und-x-icu" NOT NULL PRIMARY KEY,
		user_id TEXT COLLATE "und-x-icu" NOT NULL, provider_id TEXT NOT NULL, account_id TEXT NOT NULL,
		access_token BYTEA, refresh_token BYTEA, id_token BYTEA,
		access_token_expires_at BIGINT, refresh_token_expires_at BIGINT,
		scope TEXT, password TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
		UNIQUE (provider_id, account_id))`); err != nil {
		t.Fatal(err)
	}
	b, err := postgres.New(pool, postgres.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Adopt(t.Context()); err != nil {
		t.Fatal(err)
	}
	ids := []string{"b", "B", "a", "A", "_", "é", "e", "f", "a b", "ab", "aB"}
	for i, id := range ids {
		if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: id, UserID: "u", ProviderID: "p", AccountID: id + string(rune('0'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"A", "B", "_", "a", "a b", "aB", "ab", "b", "e", "f", "é"}
	// The column's own order is linguistic: the test means something.
	var linguistic []string
	rows, err := pool.Query(t.Context(), `SELECT id FROM `+table+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	linguistic, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(linguistic, ",") == strings.Join(want, ",") {
		t.Fatal("the ICU collation sorts like bytes; the test cannot tell the orders apart")
	}
	var got []string
	for after := ""; ; {
		page, err := b.List(t.Context(), after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			got = append(got, a.ID)
		}
		after = page[len(page)-1].ID
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("List order %q, want byte order %q", got, want)
	}
	all, err := b.FindForUser(t.Context(), "u")
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, a := range all {
		got = append(got, a.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("FindForUser order %q, want byte order %q", got, want)
	}
}

// TestListUsesPrimaryKey checks that a List page is an index range scan
// of the primary key, not a scan and sort of the whole table.
func TestListUsesPrimaryKey(t *testing.T) {
	pool := pgtest.Pool(t)
	b := newBackend(t, pool)
	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(t.Context(), `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := conn.Exec(context.Background(), `RESET enable_seqscan`); err != nil {
			t.Error(err)
		}
	}()
	rows, err := conn.Query(t.Context(), `EXPLAIN `+postgres.ListQueryForTest(b), "x", 10)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "Index") || !strings.Contains(plan, "_pkey") || strings.Contains(plan, "Sort") {
		t.Errorf("List plan does not range-scan the primary key:\n%s", plan)
	}
}

// TestStorage checks what reaches the table: NULL for empty tokens, scope
// and password, BYTEA tokens, BIGINT epoch seconds.
func TestStorage(t *testing.T) {
	pool := pgtest.Pool(t)
	b := newBackend(t, pool)
	if _, err := b.Upsert(t.Context(), accountvault.SealedRow{ID: "a", UserID: "u", ProviderID: "p", AccountID: "s",
		RefreshToken: []byte("r\x00"), CreatedAt: time.Unix(1700000000, 999), UpdatedAt: time.Unix(1700000001, 0)}); err != nil {
		t.Fatal(err)
	}
	var nulls int
	var refresh []byte
	var created, updated int64
	err := pool.QueryRow(t.Context(), `SELECT
		(access_token IS NULL)::int + (id_token IS NULL)::int + (scope IS NULL)::int + (password IS NULL)::int
			+ (access_token_expires_at IS NULL)::int + (refresh_token_expires_at IS NULL)::int,
		refresh_token, created_at, updated_at FROM `+pgx.Identifier{b.Table()}.Sanitize()).Scan(&nulls, &refresh, &created, &updated)
	if err != nil {
		t.Fatal(err)
	}
	if nulls != 6 || string(refresh) != "r\x00" {
		t.Errorf("%d of 6 empty columns are NULL; refresh_token is %d bytes", nulls, len(refresh))
	}
	if created != 1700000000 || updated != 1700000001 {
		t.Errorf("created_at %d, updated_at %d", created, updated)
	}
}

// TestAdoptedValues reads and swaps a row written by another program, with
// empty values rather than NULL.
func TestAdoptedValues(t *testing.T) {
	pool := pgtest.Pool(t)
	b := newBackend(t, pool)
	if _, err := pool.Exec(t.Context(), `INSERT INTO `+pgx.Identifier{b.Table()}.Sanitize()+`
		(id, user_id, provider_id, account_id, access_token, refresh_token, id_token, scope, password, created_at, updated_at)
		VALUES ('a', 'u', 'p', 's', 'tok'::bytea, ''::bytea, ''::bytea, '', '', 1, 2)`); err != nil {
		t.Fatal(err)
	}
	old, err := b.FindByProvider(t.Context(), "p", "s")
	if err != nil {
		t.Fatal(err)
	}
	if string(old.AccessToken) != "tok" || old.RefreshToken != nil || old.IDToken != nil || old.Scope != "" || !old.Password.IsZero() {
		t.Fatalf("adopted row read back wrong: token lengths %d %d %d (empty must be nil), scope %q, password length %d",
			len(old.AccessToken), len(old.RefreshToken), len(old.IDToken), old.Scope, old.Password.Len())
	}
	n := old
	n.AccessToken, n.RefreshToken = []byte("sealed-1"), []byte("sealed-2")
	if err := b.CompareAndSwap(t.Context(), old, n); err != nil {
		t.Fatalf("CompareAndSwap from an adopted row: %v", err)
	}
	if err := b.CompareAndSwap(t.Context(), old, n); !errors.Is(err, accountvault.ErrConflict) {
		t.Fatalf("second CompareAndSwap: %v, want ErrConflict", err)
	}
}
