package backendtest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/accountvault/accountvault"
)

// invalidCases returns, for a valid row v, variants that each break one
// rule of SealedRow.Validate, with the field the error must name.
func invalidCases(v accountvault.SealedRow) []struct {
	name, field string
	a           accountvault.SealedRow
} {
	type tc = struct {
		name, field string
		a           accountvault.SealedRow
	}
	var out []tc
	add := func(name, field string, edit func(*accountvault.SealedRow)) {
		a := v
		edit(&a)
		out = append(out, tc{name, field, a})
	}
	texts := []struct {
		field string
		set   func(*accountvault.SealedRow, string)
		get   func(*accountvault.SealedRow) string
		max   int
		req   bool // must not be empty
	}{
		{"ID", func(a *accountvault.SealedRow, s string) { a.ID = s }, func(a *accountvault.SealedRow) string { return a.ID }, accountvault.MaxIDSize, true},
		{"UserID", func(a *accountvault.SealedRow, s string) { a.UserID = s }, func(a *accountvault.SealedRow) string { return a.UserID }, accountvault.MaxIDSize, true},
		{"ProviderID", func(a *accountvault.SealedRow, s string) { a.ProviderID = s }, func(a *accountvault.SealedRow) string { return a.ProviderID }, accountvault.MaxIDSize, true},
		{"AccountID", func(a *accountvault.SealedRow, s string) { a.AccountID = s }, func(a *accountvault.SealedRow) string { return a.AccountID }, accountvault.MaxIDSize, true},
		{"Scope", func(a *accountvault.SealedRow, s string) { a.Scope = s }, func(a *accountvault.SealedRow) string { return a.Scope }, accountvault.MaxScopeSize, false},
		{"Password", func(a *accountvault.SealedRow, s string) { a.Password = secret(s) }, func(a *accountvault.SealedRow) string { return a.Password.Reveal() }, accountvault.MaxPasswordSize, false},
	}
	for _, f := range texts {
		if f.req {
			add(f.field+" empty", f.field, func(a *accountvault.SealedRow) { f.set(a, "") })
		}
		add(f.field+" with NUL", f.field, func(a *accountvault.SealedRow) { f.set(a, f.get(a)+"\x00x") })
		add(f.field+" only NUL", f.field, func(a *accountvault.SealedRow) { f.set(a, "\x00") })
		add(f.field+" invalid UTF-8", f.field, func(a *accountvault.SealedRow) { f.set(a, f.get(a)+"\xff") })
		add(f.field+" truncated UTF-8", f.field, func(a *accountvault.SealedRow) { f.set(a, "\xe6\x97") })
		add(f.field+" oversize", f.field, func(a *accountvault.SealedRow) { f.set(a, strings.Repeat("x", f.max+1)) })
	}
	tokens := []struct {
		field string
		set   func(*accountvault.SealedRow, []byte)
	}{
		{"AccessToken", func(a *accountvault.SealedRow, s []byte) { a.AccessToken = s }},
		{"RefreshToken", func(a *accountvault.SealedRow, s []byte) { a.RefreshToken = s }},
		{"IDToken", func(a *accountvault.SealedRow, s []byte) { a.IDToken = s }},
	}
	for _, f := range tokens {
		add(f.field+" oversize", f.field, func(a *accountvault.SealedRow) {
			f.set(a, bytes.Repeat([]byte("T"), accountvault.MaxTokenSize+1))
		})
	}
	return out
}

func testValidation(t *testing.T, b accountvault.Backend) {
	// A stored row that every invalid upsert targets (same provider and
	// account, unless those are the broken fields): it must stay as is.
	stored := account("acc-1", "user-1", "google", "sub-1", "stored")
	mustUpsert(t, b, stored)

	next := account("acc-1", "user-1", "google", "sub-1", "next")
	next.Password = secret("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$bmV4dA")
	fresh := account("acc-2", "user-2", "github", "sub-2", "fresh")

	for _, base := range []struct {
		name string
		v    accountvault.SealedRow
	}{{"update", next}, {"insert", fresh}} {
		for _, c := range invalidCases(base.v) {
			t.Run(base.name+"/"+c.name, func(t *testing.T) {
				_, err := b.Upsert(t.Context(), c.a)
				if !errors.Is(err, accountvault.ErrInvalidAccount) {
					t.Fatalf("Upsert: got %v, want ErrInvalidAccount", err)
				}
				var ie *accountvault.InvalidAccountError
				if !errors.As(err, &ie) || ie.Field != c.field {
					t.Errorf("Upsert error %v does not name field %s", err, c.field)
				}
				checkNoValue(t, err, string(c.a.AccessToken), string(c.a.RefreshToken), string(c.a.IDToken), c.a.Password.Reveal())

				checkEqual(t, "stored row after the refused upsert", stored, mustFind(t, b, "google", "sub-1"))
				if _, err := b.FindByProvider(t.Context(), c.a.ProviderID, c.a.AccountID); base.name == "insert" && !errors.Is(err, accountvault.ErrNotFound) {
					t.Errorf("FindByProvider of the refused row: got %v, want ErrNotFound", err)
				}
				if rows, err := b.List(t.Context(), "", 10); err != nil || len(rows) != 1 {
					t.Errorf("List after the refused upsert: %q, %v; want the one stored row", ids(rows), err)
				}
			})
		}
	}
}

// testUnstorableKeys looks rows up by values no row can hold: both kinds
// of backend answer alike, without an error of their own.
func testUnstorableKeys(t *testing.T, b accountvault.Backend) {
	mustUpsert(t, b, account("acc-1", "user-1", "google", "sub-1", "one"))
	for _, k := range []string{"\x00", "sub-1\x00", "\xff", "google\xc3"} {
		if _, err := b.FindByProvider(t.Context(), k, "sub-1"); !errors.Is(err, accountvault.ErrNotFound) {
			t.Errorf("FindByProvider(%q, …): got %v, want ErrNotFound", k, err)
		}
		if _, err := b.FindByProvider(t.Context(), "google", k); !errors.Is(err, accountvault.ErrNotFound) {
			t.Errorf("FindByProvider(…, %q): got %v, want ErrNotFound", k, err)
		}
		if rows, err := b.FindForUser(t.Context(), k); err != nil || len(rows) != 0 {
			t.Errorf("FindForUser(%q): %d rows, %v; want none, nil", k, len(rows), err)
		}
		if err := b.Unlink(t.Context(), "google", k); !errors.Is(err, accountvault.ErrNotFound) {
			t.Errorf("Unlink(…, %q): got %v, want ErrNotFound", k, err)
		}
	}
	mustFind(t, b, "google", "sub-1")
}
