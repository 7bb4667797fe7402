package cli

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestHelp runs --help on every command: it exits 0 and documents the exit
// codes.
func TestHelp(t *testing.T) {
	var walk func(path []string, cmd *cobra.Command)
	walk = func(path []string, cmd *cobra.Command) {
		t.Run(strings.Join(append(path, "help"), "/"), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(append(path[1:], "--help"), &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			for _, want := range []string{"Usage:", "Exit codes:", "2    usage or configuration error", "go build -o accountvault ./cmd/accountvault"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("help lacks %q", want)
				}
			}
		})
		for _, sub := range cmd.Commands() {
			if sub.Name() != "help" {
				walk(append(path, sub.Name()), sub)
			}
		}
	}
	walk([]string{"accountvault"}, (&cli{}).rootCmd())
}

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n    int
		word string
		want string
	}{{0, "row", "0 rows"}, {1, "row", "1 row"}, {2, "value", "2 values"}, {3, "entry", "3 entries"}} {
		if got := plural(tc.n, tc.word); got != tc.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tc.n, tc.word, got, tc.want)
		}
	}
}

func TestRedactDB(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db":   "postgres://u:xxxxx@h:5432/db",
		"postgresql://u@h/db":         "postgresql://u@h/db",
		"accounts.db":                 "accounts.db",
		"postgres://u:p%zz@h/db":      "postgres://xxxxx@h/db",
		"postgres://h/db?password=pw": "postgres://h/db?password=xxxxx",
		"postgres://u:pw@h:bad/db?sslmode=disable&sslpassword=pw2": "postgres://xxxxx@h:bad/db?sslmode=disable&sslpassword=xxxxx",
		"postgres://u@h/db?sslmode=disable&Password=pw":            "postgres://u@h/db?Password=xxxxx&sslmode=disable",
	} {
		if got := redactDB(in); got != want {
			t.Errorf("redactDB(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestShellQuote checks the quoting of hint arguments, and that sh reads
// every quoted word back as the original argument.
func TestShellQuote(t *testing.T) {
	cases := map[string]string{
		"":                        "''",
		"accounts":                "accounts",
		"/var/lib/av/accounts.db": "/var/lib/av/accounts.db",
		"key-ring_2.json":         "key-ring_2.json",
		"postgres://u@h:5432/db":  "postgres://u@h:5432/db",
		"postgres://u:xxxxx@h/db?sslmode=disable&search_path=rb_s": "'postgres://u:xxxxx@h/db?sslmode=disable&search_path=rb_s'",
		"my keyring.json": "'my keyring.json'",
		"it's.json":       `'it'\''s.json'`,
		"~/k.json":        "'~/k.json'",
		"$HOME/k":         "'$HOME/k'",
		"a;b|c`d`\\e\n":   "'a;b|c`d`\\e\n'",
		"*.db":            "'*.db'",
		"-":               "-",
		"x=y":             "x=y",
		"!x":              "'!x'",
		"(x)":             "'(x)'",
		"a\nb":            "'a\nb'",
		"\t":              "'\t'",
		"{a,b}":           "'{a,b}'",
		"[ab]":            "'[ab]'",
		"#x":              "'#x'",
	}
	for in, want := range cases {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to read the quoted words back")
	}
	var line strings.Builder
	var ins []string
	for in := range cases {
		ins = append(ins, in)
		line.WriteString(" " + shellQuote(in))
	}
	// sh parses the quoted words as the arguments of set.
	out, err := exec.Command(sh, "-c", "set --"+line.String()+`; for a; do printf '%s\0' "$a"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(ins) {
		t.Fatalf("sh read %d words, want %d", len(got), len(ins))
	}
	for i, in := range ins {
		if got[i] != in {
			t.Errorf("sh read %q back as %q", in, got[i])
		}
	}
}
