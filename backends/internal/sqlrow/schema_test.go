package sqlrow

import (
	"errors"
	"strings"
	"testing"

	"github.com/accountvault/accountvault"
)

func TestSchemaMatchesColumns(t *testing.T) {
	var names []string
	for _, c := range Schema {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ", "); got != strings.Join(strings.Fields(strings.ReplaceAll(Columns, ",", " ")), ", ") {
		t.Errorf("Schema lists %s, Columns %s", got, Columns)
	}
	if len(accountvault.Columns()) != NumColumns {
		t.Errorf("NumColumns is %d, accountvault.Columns has %d", NumColumns, len(accountvault.Columns()))
	}
}

func TestCamelCase(t *testing.T) {
	for in, want := range map[string]string{
		"id": "id", "user_id": "userId", "access_token_expires_at": "accessTokenExpiresAt", "a__b": "aB",
	} {
		if got := CamelCase(in); got != want {
			t.Errorf("CamelCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTableError(t *testing.T) {
	has := func(n string) bool { return n == "userId" }
	err := error(MissingColumn("account", "user_id", has))
	var te *TableError
	if !errors.Is(err, accountvault.ErrIncompatibleTable) || !errors.As(err, &te) || te.Column != "user_id" || te.Table != "account" {
		t.Fatalf("MissingColumn: %v", err)
	}
	if !strings.Contains(err.Error(), `"userId"`) || !strings.Contains(err.Error(), "Adopt renames") {
		t.Errorf("no camelCase hint: %v", err)
	}
	if err := MissingColumn("account", "scope", has); strings.Contains(err.Error(), "Adopt renames") {
		t.Errorf("camelCase hint without a camelCase column: %v", err)
	}
	renames := Renames(func(n string) bool { return n == "userId" || n == "createdAt" || n == "created_at" || n == "scope" })
	if len(renames) != 1 || renames[0] != (Rename{From: "userId", To: "user_id"}) {
		t.Errorf("Renames = %v, want only userId to user_id (created_at exists; scope has one name)", renames)
	}
	whole := &TableError{Table: "t", Reason: "is a view"}
	if whole.Error() != `existing table is not compatible: table "t" is a view` || !errors.Is(whole, accountvault.ErrIncompatibleTable) {
		t.Errorf("message %q", whole.Error())
	}
}

func TestRowHint(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, c := range []struct {
		id   *string
		want string
	}{
		{nil, ""}, {s(""), ""}, {s("a\x00"), ""}, {s("\xff"), ""}, {s(strings.Repeat("x", 129)), ""},
		{s("acc-1"), ` (for example row id "acc-1")`},
	} {
		if got := RowHint(c.id); got != c.want {
			t.Errorf("RowHint(%v) = %q, want %q", c.id, got, c.want)
		}
	}
}
