package accountvault_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/accountvault/accountvault"
)

// TestSecretNeverPrints prints an Account every way a developer might and
// checks that no secret byte appears.
func TestSecretNeverPrints(t *testing.T) {
	exp := time.Unix(1_900_000_000, 0)
	a := accountvault.Account{
		ID: "id1", UserID: "user1", ProviderID: "github", AccountID: "42",
		AccessToken:          accountvault.NewSecret("SECRET-access-9b1"),
		RefreshToken:         accountvault.NewSecret("SECRET-refresh-7c2"),
		IDToken:              accountvault.NewSecret("SECRET-idtoken-5d3"),
		Password:             accountvault.NewSecret("SECRET-$argon2id$hash"),
		AccessTokenExpiresAt: &exp,
		Scope:                "read",
	}
	var outputs []string
	// An application's own struct holding the Account in an unexported
	// field: fmt and slog cannot call Secret's methods through it.
	type session struct {
		user string
		acct accountvault.Account
		ptr  *accountvault.Account
		list []accountvault.Account
		tok  accountvault.Secret
	}
	sess := session{user: "user1", acct: a, ptr: &a, list: []accountvault.Account{a}, tok: a.AccessToken}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%p", "%10.3s", "%-8v"} {
		outputs = append(outputs, fmt.Sprintf(verb, a), fmt.Sprintf(verb, &a), fmt.Sprintf(verb, a.AccessToken),
			fmt.Sprintf(verb, sess), fmt.Sprintf(verb, &sess), fmt.Sprintf(verb, []any{a, sess}))
	}
	outputs = append(outputs, fmt.Sprint(a), fmt.Sprintln(a.RefreshToken, a.IDToken), a.Password.String(), a.IDToken.GoString())
	for _, v := range []any{a, &a, []accountvault.Account{a}, map[string]accountvault.Secret{"k": a.AccessToken}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		outputs = append(outputs, string(b))
	}
	b, err := xml.Marshal(a)
	if err != nil {
		t.Fatalf("xml.Marshal: %v", err)
	}
	outputs = append(outputs, string(b))
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("account", "acct", a, "ptr", &a, "token", a.AccessToken, "session", sess, "sessptr", &sess)
		l.Info("group", slog.Group("g", slog.Any("pw", a.Password)))
	}
	log.New(&buf, "", 0).Printf("%v %+v", a, a.RefreshToken)
	outputs = append(outputs, buf.String())

	all := strings.Join(outputs, "\n")
	if strings.Contains(all, "SECRET") {
		t.Fatal("a secret value appears in printed, logged or encoded output")
	}
	if !strings.Contains(all, accountvault.Redacted) || !strings.Contains(all, "github") {
		t.Fatal("output shows neither the redaction marker nor the clear fields: the check is blind")
	}
	if a.AccessToken.Reveal() != "SECRET-access-9b1" {
		t.Fatal("Reveal does not return the value")
	}
}

func TestEmptySecret(t *testing.T) {
	var s accountvault.Secret
	if got := fmt.Sprintf("%v|%s|%q", s, s, s); got != `||""` {
		t.Fatalf("empty secret prints %q", got)
	}
	if b, err := json.Marshal(s); err != nil || string(b) != `""` {
		t.Fatalf("empty secret marshals to %s, %v", b, err)
	}
	if !s.IsZero() || accountvault.NewSecret("x").IsZero() || !accountvault.NewSecret("").IsZero() || !accountvault.SecretBytes(nil).IsZero() {
		t.Fatal("IsZero is wrong")
	}
}

func TestSecretEqualAndCopies(t *testing.T) {
	b := []byte("tok")
	s := accountvault.SecretBytes(b)
	if !s.Equal(accountvault.NewSecret("tok")) || s.Equal(accountvault.NewSecret("tok2")) || s.Equal(accountvault.Secret{}) {
		t.Fatal("Equal is wrong")
	}
	if !(accountvault.Secret{}).Equal(accountvault.NewSecret("")) {
		t.Fatal("two empty secrets differ")
	}
	str := "abc"
	n := accountvault.NewSecret(str)
	r := n.Reveal()
	if r != "abc" || n.Len() != 3 || string(n.Bytes()) != "abc" {
		t.Fatal("Reveal, Len or Bytes is wrong")
	}
	// Reveal returns a copy: the Secret does not change under it.
	rb := []byte(r)
	rb[0] = 'x'
	if n.Reveal() != "abc" {
		t.Fatal("Reveal aliases the value")
	}
}
