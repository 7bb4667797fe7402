package accountvault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/accountvault/accountvault"
)

func valid() accountvault.Account {
	return accountvault.Account{ID: "i", UserID: "u", ProviderID: "p", AccountID: "a", AccessToken: accountvault.NewSecret("t")}
}

func TestValidate(t *testing.T) {
	if err := func() *accountvault.Account { a := valid(); return &a }().Validate(); err != nil {
		t.Fatalf("valid account: %v", err)
	}
	secret := "SECRETVALUE"
	cases := []struct {
		field string
		edit  func(a *accountvault.Account)
	}{
		{"ID", func(a *accountvault.Account) { a.ID = "" }},
		{"UserID", func(a *accountvault.Account) { a.UserID = "" }},
		{"ProviderID", func(a *accountvault.Account) { a.ProviderID = "" }},
		{"AccountID", func(a *accountvault.Account) { a.AccountID = "" }},
		{"ID", func(a *accountvault.Account) { a.ID = strings.Repeat("x", accountvault.MaxIDSize+1) }},
		{"UserID", func(a *accountvault.Account) { a.UserID = "u\x00" }},
		{"AccountID", func(a *accountvault.Account) { a.AccountID = "\xff\xfe" }},
		{"Scope", func(a *accountvault.Account) { a.Scope = strings.Repeat("s", accountvault.MaxScopeSize+1) }},
		{"Scope", func(a *accountvault.Account) { a.Scope = "a\x00b" }},
		{"Password", func(a *accountvault.Account) { a.Password = accountvault.NewSecret(secret + "\x00") }},
		{"Password", func(a *accountvault.Account) { a.Password = accountvault.NewSecret(secret + "\xff") }},
		{"Password", func(a *accountvault.Account) {
			a.Password = accountvault.NewSecret(secret + strings.Repeat("p", accountvault.MaxPasswordSize))
		}},
		{"AccessToken", func(a *accountvault.Account) {
			a.AccessToken = accountvault.NewSecret(secret + strings.Repeat("t", accountvault.MaxTokenSize))
		}},
		{"RefreshToken", func(a *accountvault.Account) {
			a.RefreshToken = accountvault.NewSecret(secret + strings.Repeat("t", accountvault.MaxTokenSize))
		}},
		{"IDToken", func(a *accountvault.Account) {
			a.IDToken = accountvault.NewSecret(secret + strings.Repeat("t", accountvault.MaxTokenSize))
		}},
	}
	for _, c := range cases {
		a := valid()
		c.edit(&a)
		err := a.Validate()
		var ie *accountvault.InvalidAccountError
		if !errors.Is(err, accountvault.ErrInvalidAccount) || !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%s: got %v, want an InvalidAccountError naming %s", c.field, err, c.field)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error echoes the value", c.field)
		}
	}
	// Tokens are opaque bytes: NUL and invalid UTF-8 are fine.
	a := valid()
	a.AccessToken = accountvault.NewSecret("\x00\xff\xa7av")
	if err := a.Validate(); err != nil {
		t.Fatalf("binary token refused: %v", err)
	}
}

// TestValidateSealedRow checks that a SealedRow is held to the same limits
// as an Account, its token fields counted as stored.
func TestValidateSealedRow(t *testing.T) {
	r := accountvault.SealedRow{ID: "i", UserID: "u", ProviderID: "p", AccountID: "a", AccessToken: []byte{0, 0xff}}
	if err := r.Validate(); err != nil {
		t.Fatalf("valid row: %v", err)
	}
	r.IDToken = make([]byte, accountvault.MaxTokenSize+1)
	var ie *accountvault.InvalidAccountError
	if err := r.Validate(); !errors.As(err, &ie) || ie.Field != "IDToken" {
		t.Fatalf("oversize IDToken: %v", err)
	}
	r.IDToken = nil
	r.UserID = ""
	if err := r.Validate(); !errors.As(err, &ie) || ie.Field != "UserID" {
		t.Fatalf("empty UserID: %v", err)
	}
}

func TestTableError(t *testing.T) {
	err := error(&accountvault.TableError{Table: "account", Column: "user_id", Reason: "is missing"})
	if !errors.Is(err, accountvault.ErrIncompatibleTable) || !strings.Contains(err.Error(), `"account"`) || !strings.Contains(err.Error(), "user_id is missing") {
		t.Fatalf("TableError: %v", err)
	}
	whole := &accountvault.TableError{Table: "t", Reason: "is a view"}
	if whole.Error() != `existing table is not compatible: table "t" is a view` {
		t.Fatalf("message %q", whole.Error())
	}
}

func TestRowError(t *testing.T) {
	err := error(&accountvault.RowError{ID: "r1", Column: "access_token", Err: accountvault.ErrDecrypt})
	if !errors.Is(err, accountvault.ErrDecrypt) || !strings.Contains(err.Error(), `"r1"`) || !strings.Contains(err.Error(), "access_token") {
		t.Fatalf("RowError: %v", err)
	}
}
