package sqlrow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
)

func TestWrapAddsContextError(t *testing.T) {
	driverErr := errors.New("interrupted (9)")
	ctx, cancel := context.WithCancel(context.Background())
	if err := Wrap(ctx, "sqlite", "List", driverErr, nil); !errors.Is(err, driverErr) || errors.Is(err, context.Canceled) {
		t.Errorf("live context: %v", err)
	}
	cancel()
	err := Wrap(ctx, "sqlite", "List", driverErr, nil)
	if !errors.Is(err, driverErr) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context, driver error without it: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "sqlite: List: ") {
		t.Errorf("message %q lacks the backend and operation", err)
	}
	// Not added twice.
	err = Wrap(ctx, "sqlite", "List", context.Canceled, nil)
	if strings.Count(err.Error(), "context canceled") != 1 {
		t.Errorf("context error repeated: %q", err)
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	if err := Wrap(dctx, "postgres", "Upsert", driverErr, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired deadline: %v", err)
	}
}

func TestCheckIdent(t *testing.T) {
	for _, ok := range []string{"a", "_", "A_1", strings.Repeat("x", 63)} {
		if err := CheckIdent("table", ok); err != nil {
			t.Errorf("CheckIdent(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "1a", "a-b", "a b", `a"`, "é", strings.Repeat("x", 64), "accountvault_schema", "ACCOUNTVAULT_SCHEMA", "a\x00"} {
		if err := CheckIdent("table", bad); !errors.Is(err, ErrBadIdent) {
			t.Errorf("CheckIdent(%q) = %v, want ErrBadIdent", bad, err)
		}
	}
}

func TestQuote(t *testing.T) {
	if got := Quote("accounts"); got != `"accounts"` {
		t.Errorf("Quote = %s", got)
	}
	if got := Quote(`a"b`); got != `"a""b"` {
		t.Errorf("Quote doubles no quote: %s", got)
	}
}

func TestIndexName(t *testing.T) {
	if got := IndexName("accounts", "user_id_idx"); got != "accounts_user_id_idx" {
		t.Errorf("short name: %s", got)
	}
	a := IndexName(strings.Repeat("L", 60)+"abc", "user_id_idx")
	b := IndexName(strings.Repeat("L", 60)+"xyz", "user_id_idx")
	if len(a) > MaxIdentLen || len(b) > MaxIdentLen || a == b || !strings.HasSuffix(a, "_user_id_idx") {
		t.Errorf("long names: %q (%d), %q (%d)", a, len(a), b, len(b))
	}
	if got := IndexName(strings.Repeat("t", 63), "user_id_idx"); len(got) != MaxIdentLen {
		t.Errorf("63-byte table: index name of %d bytes", len(got))
	}
}

func TestStorable(t *testing.T) {
	for s, want := range map[string]bool{"": true, "abc": true, "é": true, "a\x00": false, "\xff": false, "\xe6\x97": false} {
		if Storable(s) != want {
			t.Errorf("Storable(%q) = %v", s, !want)
		}
	}
}

func TestRowRoundTrip(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600))
	a := accountvault.SealedRow{ID: "i", UserID: "u", ProviderID: "p", AccountID: "a",
		AccessToken: []byte("\x00\xff"), IDToken: []byte{}, AccessTokenExpiresAt: &exp, Password: accountvault.NewSecret("h")}
	now := time.Unix(1700000000, 500)
	r := FromSealed(&a, now)
	if r.RefreshToken != nil || r.IDToken != nil || r.Scope != nil || r.RefreshTokenExpiresAt != nil {
		t.Error("empty values are not NULL")
	}
	if r.CreatedAt != 1700000000 || r.UpdatedAt != 1700000000 {
		t.Errorf("zero times not now: %d %d", r.CreatedAt, r.UpdatedAt)
	}
	got := r.Sealed()
	if !bytes.Equal(got.AccessToken, a.AccessToken) || !got.Password.Equal(a.Password) || got.RefreshToken != nil || got.IDToken != nil || got.Scope != "" {
		t.Error("values changed in the round trip")
	}
	if !got.AccessTokenExpiresAt.Equal(exp.Truncate(time.Second)) || got.AccessTokenExpiresAt.Location() != time.UTC {
		t.Errorf("expiry %v", got.AccessTokenExpiresAt)
	}
	if len(r.Dest()) != NumColumns || len(r.Args()) != NumColumns || strings.Count(Columns, ",")+1 != NumColumns {
		t.Error("column count mismatch")
	}
	// Read back: an empty BLOB is nil, as NULL is.
	back := Row{AccessToken: []byte{}, Password: new(string)}
	if s := back.Sealed(); s.AccessToken != nil || !s.Password.IsZero() {
		t.Error("an empty token or password read back is not empty")
	}
}

// TestSwapArgs checks the order of the arguments every dialect's
// StmtCompareAndSwap relies on.
func TestSwapArgs(t *testing.T) {
	e1, e2 := time.Unix(100, 0), time.Unix(200, 0)
	old := accountvault.SealedRow{ID: "i", UserID: "u", ProviderID: "p", AccountID: "a",
		AccessToken: []byte("o1"), RefreshToken: []byte{}, IDToken: []byte("o3"), Password: accountvault.NewSecret("oldpw")}
	n := old
	n.AccessToken, n.RefreshToken, n.IDToken = []byte("n1"), []byte("n2"), nil
	n.AccessTokenExpiresAt, n.RefreshTokenExpiresAt, n.Scope, n.Password = &e1, &e2, "scope", accountvault.Secret{}
	n.UpdatedAt = time.Unix(300, 0)
	args := SwapArgs(&old, &n, time.Unix(999, 0))
	if len(args) != 16 {
		t.Fatalf("%d arguments, want 16", len(args))
	}
	str := func(v any) string {
		switch v := v.(type) {
		case []byte:
			if v == nil {
				return "NULL"
			}
			return "b:" + string(v)
		case *string:
			if v == nil {
				return "NULL"
			}
			return "s:" + *v
		case *int64:
			if v == nil {
				return "NULL"
			}
			return fmt.Sprint("i:", *v)
		default:
			return fmt.Sprint(v)
		}
	}
	var got []string
	for _, a := range args {
		got = append(got, str(a))
	}
	want := []string{"b:n1", "b:n2", "NULL", "i:100", "i:200", "s:scope", "NULL", "300",
		"i", "u", "p", "a", "b:o1", "NULL", "b:o3", "oldpw"}
	if !slices.Equal(got, want) {
		t.Errorf("SwapArgs:\n\t%q\nwant\n\t%q", got, want)
	}
	n.UpdatedAt = time.Time{}
	if args := SwapArgs(&old, &n, time.Unix(999, 0)); args[7] != int64(999) {
		t.Errorf("zero UpdatedAt: updated_at %v, want now", args[7])
	}
}

func TestCheckSwap(t *testing.T) {
	old := accountvault.SealedRow{ID: "i", UserID: "u", ProviderID: "p", AccountID: "a"}
	if err := CheckSwap(&old, &old); err != nil {
		t.Fatal(err)
	}
	n := old
	n.UserID = "v"
	var ie *accountvault.InvalidAccountError
	if err := CheckSwap(&old, &n); !errors.As(err, &ie) || ie.Field != "UserID" {
		t.Errorf("changed UserID: %v", err)
	}
}

// TestWrapSerialization: an error Retryable accepts (it outlasted the
// retries) reaches the caller matching ErrSerialization and ErrTransient;
// any other matches its class only.
func TestWrapSerialization(t *testing.T) {
	cause := errors.New("could not serialize access (SQLSTATE 40001)")
	m := &Methods{Name: "pg", Retryable: func(err error) bool { return err == cause },
		Classify: func(error) error { return accountvault.ErrTransient }}
	err := m.wrap(context.Background(), "Op", cause)
	if !errors.Is(err, accountvault.ErrSerialization) || !errors.Is(err, accountvault.ErrTransient) || !errors.Is(err, cause) {
		t.Errorf("a retryable error: %v does not match ErrSerialization, ErrTransient and its cause", err)
	}
	other := errors.New("connection reset")
	if err := m.wrap(context.Background(), "Op", other); errors.Is(err, accountvault.ErrSerialization) || !errors.Is(err, accountvault.ErrTransient) {
		t.Errorf("another transient error: %v", err)
	}
}
