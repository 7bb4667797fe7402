package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/accountvault/accountvault/keyring"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return master, tty
}

// TestProgressBarOnTerminal runs check with stderr on a terminal: it draws
// a progress bar with the row count and rate, not progress lines.
func TestProgressBarOnTerminal(t *testing.T) {
	master, tty := openPTY(t)
	dir := t.TempDir()
	mk, err := keyring.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AVTEST_MASTER_KEY", mk)
	m, err := keyring.ParseMasterKey(mk)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	kr := filepath.Join(dir, "keyring.json")
	if err := k.SaveFile(kr, m); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "av.db")
	seedSealed(t, context.Background(), db, "accounts", k, 300)

	var screen bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(&screen, master) // ends with EIO once tty is closed
		done <- err
	}()
	var out bytes.Buffer
	code := run([]string{"check", "--db", db, "--batch", "10", "--keyring", kr, "--master-key-env", "AVTEST_MASTER_KEY"}, &out, tty)
	if err := tty.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	if code != 0 {
		t.Fatalf("check: exit %d\n%s", code, screen.String())
	}
	if !strings.Contains(out.String(), "totals: 600 sealed") {
		t.Fatalf("check report:\n%s", out.String())
	}
	s := screen.String()
	t.Logf("terminal: %q", s)
	if !strings.Contains(s, "check") || !strings.Contains(s, "rows/s") || strings.Contains(s, "rows seen") {
		t.Fatalf("terminal shows no progress bar (or plain lines):\n%q", s)
	}
}
