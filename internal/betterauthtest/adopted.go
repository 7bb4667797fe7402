package betterauthtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
)

// Time parses a stored time of the manifest: SQLite's ISO-8601 text
// ("2026-11-29T08:21:24.119Z") or Postgres's text of a timestamptz
// ("2026-11-29 08:21:24.119+00").
func (s *Stored) Time() (time.Time, error) {
	if s == nil {
		return time.Time{}, fmt.Errorf("betterauthtest: no stored time")
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.Parse(layout, s.Stored); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("betterauthtest: stored time %q in no known layout", s.Stored)
}

// CheckAdopted reads every account of the plaintext fixture f through b,
// a Backend over f's account table after Adopt, and checks each column
// against the manifest: the ids; the tokens, byte for byte (legacy
// plaintext until sealed); the password hash; the scope; and the times,
// as the epoch second each stored time falls in. Failures name the row
// and the column, never a value.
func CheckAdopted(t testing.TB, ctx context.Context, f *Fixture, b accountvault.Backend) {
	t.Helper()
	if f.Variant != "plain" {
		t.Fatalf("betterauthtest: CheckAdopted of %s: only the plaintext fixtures hold their tokens as written", f.Name)
	}
	for i := range f.Accounts {
		a := &f.Accounts[i]
		got, err := b.FindByProvider(ctx, a.ProviderID, a.AccountID)
		if err != nil {
			t.Errorf("%s: FindByProvider: %v", a.Label(), err)
			continue
		}
		if got.ID != a.ID || got.UserID != a.UserID {
			t.Errorf("%s: id or user id differs after adoption", a.Label())
		}
		for col, pair := range map[string]struct {
			tok *Token
			got []byte
		}{
			"accessToken":  {a.AccessToken, got.AccessToken},
			"refreshToken": {a.RefreshToken, got.RefreshToken},
			"idToken":      {a.IDToken, got.IDToken},
		} {
			want := ""
			if pair.tok != nil {
				want = pair.tok.Stored
			}
			if string(pair.got) != want {
				t.Errorf("%s: %s differs after adoption (%d bytes, want %d)", a.Label(), col, len(pair.got), len(want))
			}
		}
		wantPW := ""
		if a.Password != nil {
			wantPW = a.Password.Stored
		}
		if got.Password.Reveal() != wantPW {
			t.Errorf("%s: password hash differs after adoption", a.Label())
		}
		wantScope := ""
		if a.Scope != nil {
			wantScope = a.Scope.Stored
		}
		if got.Scope != wantScope {
			t.Errorf("%s: scope %q, want %q", a.Label(), got.Scope, wantScope)
		}
		for _, tc := range []struct {
			col    string
			stored *Stored
			got    *time.Time
		}{
			{"accessTokenExpiresAt", a.AccessTokenExpiresAt, got.AccessTokenExpiresAt},
			{"refreshTokenExpiresAt", a.RefreshTokenExpiresAt, got.RefreshTokenExpiresAt},
			{"createdAt", a.CreatedAt, &got.CreatedAt},
			{"updatedAt", a.UpdatedAt, &got.UpdatedAt},
		} {
			null := tc.stored == nil || strings.EqualFold(tc.stored.Type, "null")
			switch {
			case null && tc.got != nil:
				t.Errorf("%s: %s was NULL, reads %v", a.Label(), tc.col, *tc.got)
			case null:
			case tc.got == nil:
				t.Errorf("%s: %s reads NULL", a.Label(), tc.col)
			default:
				want, err := tc.stored.Time()
				if err != nil {
					t.Fatal(err)
				}
				if tc.got.Unix() != want.Unix() {
					t.Errorf("%s: %s reads %v, want %v", a.Label(), tc.col, tc.got.UTC(), want.UTC())
				}
			}
		}
	}
}
