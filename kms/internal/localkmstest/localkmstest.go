// Package localkmstest builds and runs local-kms (kms/internal/localkms, an
// AWS KMS API server for tests) on 127.0.0.1 for the tests of the kms
// module: one server per test binary, started on first use.
package localkmstest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The region and account of the key ARNs the server makes.
const (
	Region  = "eu-west-2"
	Account = "111122223333"
)

// pkg is the command that serves local-kms on a loopback address.
const pkg = "github.com/accountvault/accountvault/kms/internal/localkms"

var server struct {
	once  sync.Once
	url   string
	err   error
	dir   string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

// URL returns the base URL (http://127.0.0.1:PORT) of the test binary's
// local-kms, building and starting it on first use: `go build` of the
// module's internal/localkms (minutes with a cold build cache), then the
// binary on a free port. Call [Stop] from TestMain.
func URL() (string, error) {
	server.once.Do(func() { server.err = start() })
	return server.url, server.err
}

func start() error {
	dir, err := os.MkdirTemp("", "accountvault-localkms-")
	if err != nil {
		return err
	}
	server.dir = dir
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("no go command to build local-kms: %w", err)
	}
	bin := filepath.Join(dir, "localkms")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, pkg)
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}

	logPath := filepath.Join(dir, "localkms.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-data", filepath.Join(dir, "data"),
		"-region", Region, "-account", Account)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start local-kms: %w", err)
	}
	server.cmd, server.stdin = cmd, stdin
	server.done = make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout) // drain: nothing else is expected there
		server.done <- cmd.Wait()
	}()
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			return fmt.Errorf("local-kms exited before listening; its log:\n%s", tail(logPath))
		}
		line = l
	case <-time.After(60 * time.Second):
		return fmt.Errorf("local-kms did not report its address within 60 s; its log:\n%s", tail(logPath))
	}
	addr, ok := strings.CutPrefix(line, "localkms: listening on ")
	if !ok {
		return fmt.Errorf("local-kms printed %q, not its address", line)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("local-kms address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("local-kms listens on %s, not on loopback", addr)
	}
	server.url = "http://" + addr
	return nil
}

// Stop stops the server, if [URL] started one, and removes its files.
func Stop() error {
	var errs []error
	if server.cmd != nil {
		errs = append(errs, server.stdin.Close()) // local-kms exits at end of input
		select {
		case err := <-server.done:
			errs = append(errs, err)
		case <-time.After(10 * time.Second):
			errs = append(errs, server.cmd.Process.Kill(), errors.New("local-kms did not exit within 10 s of closing its input; killed"))
			<-server.done
		}
	}
	if server.dir != "" {
		errs = append(errs, os.RemoveAll(server.dir))
	}
	return errors.Join(errs...)
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
