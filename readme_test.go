package accountvault_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeQuickStartCompiles compiles README.md's quick start as written:
// its imports, and its statements inside a function that declares the few
// names the snippet takes from its surroundings (ctx, tok, input, use).
// Each "…" (the reader's error handling) becomes a panic.
func TestReadmeQuickStartCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program with the go command")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## Quick start")
	if !ok {
		t.Fatal(`README.md has no "## Quick start" section`)
	}
	_, rest, ok = strings.Cut(rest, "```go\n")
	if !ok {
		t.Fatal("the quick start has no Go block")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("the quick start's Go block is not closed")
	}
	imports, body, ok := strings.Cut(block, ")\n")
	if !ok || !strings.HasPrefix(imports, "import (") {
		t.Fatal("the quick start's Go block does not begin with an import block")
	}
	body = strings.ReplaceAll(body, "{ … }", "{ panic(err) }")
	if strings.Contains(body, "…") {
		t.Fatal("the quick start has an elision the test cannot stand in for")
	}
	src := "package main\n\n" + imports + "\n\t\"context\"\n)\n\n" +
		"func main() {}\n\n" +
		"func quickStart(ctx context.Context, tok struct{ AccessToken string }, input string, use func(string)) {\n" +
		body +
		"\n\t_, _, _, _ = acct, got, ok, n\n}\n"
	dir := t.TempDir()
	file := filepath.Join(dir, "main.go")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "quickstart"), file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("README's quick start does not compile: %v\n%s\nprogram:\n%s", err, out, src)
	}
}
