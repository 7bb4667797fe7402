package sqlrow

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
)

func TestWrapAddsContextError(t *testing.T) {
	driverErr := errors.New("interrupted (9)")
	ctx, cancel := context.WithCancel(context.Background())
	if err := Wrap(ctx, "sqlite", "List", driverErr); !errors.Is(err, driverErr) || errors.Is(err, context.Canceled) {
		t.Errorf("live context: %v", err)
	}
	cancel()
	err := Wrap(ctx, "sqlite", "List", driverErr)
	if !errors.Is(err, driverErr) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context, driver error without it: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "sqlite: List: ") {
		t.Errorf("message %q lacks the backend and operation", err)
	}
	// Not added twice.
	err = Wrap(ctx, "sqlite", "List", context.Canceled)
	if strings.Count(err.Error(), "context canceled") != 1 {
		t.Errorf("context error repeated: %q", err)
	}
	dctx, dcancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer dcancel()
	if err := Wrap(dctx, "postgres", "Upsert", driverErr); !errors.Is(err, context.DeadlineExceeded) {
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
	a := accountvault.Account{ID: "i", UserID: "u", ProviderID: "p", AccountID: "a",
		AccessToken: "\x00\xff", AccessTokenExpiresAt: &exp, Password: "h"}
	now := time.Unix(1700000000, 500)
	r := FromAccount(&a, now)
	if r.RefreshToken != nil || r.IDToken != nil || r.Scope != nil || r.RefreshTokenExpiresAt != nil {
		t.Error("empty values are not NULL")
	}
	if r.CreatedAt != 1700000000 || r.UpdatedAt != 1700000000 {
		t.Errorf("zero times not now: %d %d", r.CreatedAt, r.UpdatedAt)
	}
	got := r.Account()
	if got.AccessToken != a.AccessToken || got.Password != a.Password || got.RefreshToken != "" || got.Scope != "" {
		t.Error("values changed in the round trip")
	}
	if !got.AccessTokenExpiresAt.Equal(exp.Truncate(time.Second)) || got.AccessTokenExpiresAt.Location() != time.UTC {
		t.Errorf("expiry %v", got.AccessTokenExpiresAt)
	}
	if len(r.Dest()) != NumColumns || len(r.Args()) != NumColumns || strings.Count(Columns, ",")+1 != NumColumns {
		t.Error("column count mismatch")
	}
}

func TestCheckSwap(t *testing.T) {
	old := accountvault.Account{ID: "i", UserID: "u", ProviderID: "p", AccountID: "a"}
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
