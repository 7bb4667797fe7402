package cli

// Adversarial review of per-row bad times (af86c7a..7007688): a time that
// is not epoch seconds must fail its row alone, in the CLI's commands too.

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/accountvault/accountvault/keyring"
)

// TestReviewFirstRowBadTime: check, rewrap and keys retire first read one
// row (probeTable) to tell a missing table from a working one. When the
// table's first row by id holds a time that is not epoch seconds (what
// better-auth writes into SQLite, or what a database writer plants), that
// read returns the row's RowError, and the command stops with a
// configuration error (exit 2: "wrong --table, or run migrate first?")
// instead of walking the table and listing the row (check: exit 1). One
// planted row then keeps the operator from rewrapping and retiring a
// compromised key.
func TestReviewFirstRowBadTime(t *testing.T) {
	e := newCLIEnv(t)
	db := filepath.Join(e.dir, "av.db")
	k, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	seedSealed(t, context.Background(), db, "accounts", k, 5)
	e.save(k)
	raw, err := openRawDB(db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE accounts SET updated_at = '2026-11-29T07:21:25.131Z' WHERE id = 'acc_000000'`); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := e.run("check", "--db", db, "--table", "accounts")
	if code != 1 || !strings.Contains(out, "acc_000000") {
		t.Errorf("check with a bad time in the first row: exit %d, want 1 and the row listed\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// A rotation: every row names the old key; rewrap must rewrap the
	// four readable rows and list the fifth (exit 1).
	if _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	e.save(k)
	out, errOut, code = e.run("rewrap", "--db", db, "--table", "accounts")
	if code != 1 || !strings.Contains(out+errOut, "acc_000000") || !strings.Contains(out, "4 rewrapped") {
		t.Errorf("rewrap with a bad time in the first row: exit %d, want the walk to run and list the row\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
