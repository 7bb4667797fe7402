package postgres

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/internal/pgtest"
)

// TestClassifyErrors classifies errors that the real Postgres server
// returns, as the backend marks them.
func TestClassifyErrors(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for code, want := range map[string]error{
		"42501": accountvault.ErrDatabaseSetup, // insufficient_privilege
		"25006": accountvault.ErrDatabaseSetup, // read_only_sql_transaction
		"42P01": accountvault.ErrDatabaseSetup, // undefined_table
		"40001": accountvault.ErrTransient,     // serialization_failure
		"40P01": accountvault.ErrTransient,     // deadlock_detected
		"57P01": accountvault.ErrTransient,     // admin_shutdown
		"53300": accountvault.ErrTransient,     // too_many_connections
		"08006": accountvault.ErrTransient,     // connection_failure
		"53100": nil,                           // disk_full
		"P0001": nil,                           // raise_exception
		"23505": nil,                           // unique_violation
	} {
		_, err := pool.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '%s'; END $$`, code))
		checkClass(t, "SQLSTATE "+code, err, want)
	}
	// A real read-only transaction.
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, `CREATE TABLE av_readonly_never (id int)`)
	checkClass(t, "DDL in a read-only transaction", err, accountvault.ErrDatabaseSetup)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// No server: transient.
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	_, err = pgx.Connect(cctx, "postgres://root@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	checkClass(t, "connection refused", err, accountvault.ErrTransient)
	checkClass(t, "plain error", errors.New("envelope: seal failed"), nil)
}

// checkClass checks that wrap marks err with class, and with no other.
func checkClass(t *testing.T, what string, err, class error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	w := wrap(context.Background(), "Test", err)
	if !errors.Is(w, err) {
		t.Errorf("%s: the wrapped error lost the driver's", what)
	}
	for _, c := range []error{accountvault.ErrTransient, accountvault.ErrDatabaseSetup} {
		if got, want := errors.Is(w, c), c == class; got != want {
			t.Errorf("%s: errors.Is(%v) = %v, want %v (error: %v)", what, c, got, want, w)
		}
	}
}
