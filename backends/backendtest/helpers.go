package backendtest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
)

// base is a fixed second used for explicit timestamps.
var base = time.Date(2024, time.May, 6, 7, 8, 9, 0, time.UTC)

func at(sec int) *time.Time {
	t := base.Add(time.Duration(sec) * time.Second)
	return &t
}

// account returns a row with every column but Password set, its tokens
// derived from tag so that two tags give different values. The tokens
// stand for sealed values: a backend stores bytes and never looks into
// them.
func account(id, user, provider, subject, tag string) accountvault.SealedRow {
	return accountvault.SealedRow{
		ID:                    id,
		UserID:                user,
		ProviderID:            provider,
		AccountID:             subject,
		AccessToken:           []byte("access-" + tag),
		RefreshToken:          []byte("refresh-" + tag),
		IDToken:               []byte("idtoken-" + tag),
		AccessTokenExpiresAt:  at(3600),
		RefreshTokenExpiresAt: at(86400),
		Scope:                 "openid email " + tag,
		CreatedAt:             base,
		UpdatedAt:             base.Add(time.Minute),
	}
}

// secret returns a Secret holding s (a password hash, in these tests).
func secret(s string) accountvault.Secret { return accountvault.NewSecret(s) }

// normalize returns a as a backend returns it: times in UTC, whole seconds.
func normalize(a accountvault.SealedRow) accountvault.SealedRow {
	sec := func(t time.Time) time.Time { return time.Unix(t.Unix(), 0).UTC() }
	secp := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		s := sec(*t)
		return &s
	}
	a.AccessTokenExpiresAt = secp(a.AccessTokenExpiresAt)
	a.RefreshTokenExpiresAt = secp(a.RefreshTokenExpiresAt)
	a.CreatedAt = sec(a.CreatedAt)
	a.UpdatedAt = sec(a.UpdatedAt)
	return a
}

// diff lists the fields in which got differs from want, describing secret
// fields by length only. Times must be equal instants in UTC.
func diff(want, got accountvault.SealedRow) []string {
	var d []string
	str := func(name, w, g string) {
		if w != g {
			d = append(d, fmt.Sprintf("%s: got %q, want %q", name, g, w))
		}
	}
	token := func(name string, w, g []byte) {
		if !bytes.Equal(w, g) {
			d = append(d, fmt.Sprintf("%s: got %d bytes, want %d bytes (values differ)", name, len(g), len(w)))
		}
	}
	password := func(name string, w, g accountvault.Secret) {
		if !w.Equal(g) {
			d = append(d, fmt.Sprintf("%s: got %d bytes, want %d bytes (values differ)", name, g.Len(), w.Len()))
		}
	}
	tm := func(name string, w, g time.Time) {
		if !w.Equal(g) || g.Location() != time.UTC {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", name, g, w))
		}
	}
	tp := func(name string, w, g *time.Time) {
		switch {
		case w == nil && g == nil:
		case w == nil || g == nil:
			d = append(d, fmt.Sprintf("%s: got %v, want %v", name, g, w))
		default:
			tm(name, *w, *g)
		}
	}
	str("ID", want.ID, got.ID)
	str("UserID", want.UserID, got.UserID)
	str("ProviderID", want.ProviderID, got.ProviderID)
	str("AccountID", want.AccountID, got.AccountID)
	token("AccessToken", want.AccessToken, got.AccessToken)
	token("RefreshToken", want.RefreshToken, got.RefreshToken)
	token("IDToken", want.IDToken, got.IDToken)
	tp("AccessTokenExpiresAt", want.AccessTokenExpiresAt, got.AccessTokenExpiresAt)
	tp("RefreshTokenExpiresAt", want.RefreshTokenExpiresAt, got.RefreshTokenExpiresAt)
	str("Scope", want.Scope, got.Scope)
	password("Password", want.Password, got.Password)
	tm("CreatedAt", want.CreatedAt, got.CreatedAt)
	tm("UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	return d
}

func checkEqual(t *testing.T, what string, want, got accountvault.SealedRow) {
	t.Helper()
	if d := diff(normalize(want), got); len(d) > 0 {
		t.Errorf("%s differs from what was written:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

func mustUpsert(t *testing.T, b accountvault.Backend, a accountvault.SealedRow) accountvault.SealedRow {
	t.Helper()
	got, err := b.Upsert(t.Context(), a)
	if err != nil {
		t.Fatalf("Upsert(id %q): %v", a.ID, err)
	}
	return got
}

func mustFind(t *testing.T, b accountvault.Backend, provider, subject string) accountvault.SealedRow {
	t.Helper()
	got, err := b.FindByProvider(t.Context(), provider, subject)
	if err != nil {
		t.Fatalf("FindByProvider(%q, %q): %v", provider, subject, err)
	}
	return got
}

func ids(as []accountvault.SealedRow) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

// checkNoValue fails if err's message contains any of the secret values.
func checkNoValue(t *testing.T, err error, values ...string) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, v := range values {
		if len(v) >= 4 && strings.Contains(msg, v) {
			t.Errorf("error message contains a secret value (%d bytes)", len(v))
		}
	}
}

// checkNilTokens fails unless every token of r is nil, as a backend reads
// back an empty token (stored as NULL).
func checkNilTokens(t *testing.T, what string, r accountvault.SealedRow) {
	t.Helper()
	for _, f := range []struct {
		name string
		v    []byte
	}{{"AccessToken", r.AccessToken}, {"RefreshToken", r.RefreshToken}, {"IDToken", r.IDToken}} {
		if f.v != nil {
			t.Errorf("%s: empty %s read back as a non-nil slice of %d bytes, want nil", what, f.name, len(f.v))
		}
	}
}
