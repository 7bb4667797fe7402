// Command localkms serves github.com/nsmithuk/local-kms, an implementation
// of the AWS KMS API for tests, on a loopback address only. The tests of
// package kms build and start it.
//
// local-kms's own main listens on every interface (":" + $PORT) and reads
// its settings from the environment; this one serves the same request
// handler, with the same database, on the address of -listen, which must be
// a loopback IP literal, and takes its settings from flags only. It prints
// one line, "localkms: listening on ADDR", once the socket is bound, and
// exits when its standard input reaches end of file (so it does not outlive
// a test binary that dies; -watch-stdin=false turns that off, to run it in
// the background of a shell) or on SIGINT or SIGTERM.
//
// local-kms accepts any credentials and checks no signature: an AWS access
// key is still needed to sign requests, but any will do.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	localkms "github.com/nsmithuk/local-kms/src"
	"github.com/nsmithuk/local-kms/src/config"
	"github.com/nsmithuk/local-kms/src/data"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback `address` to listen on (port 0: any free port)")
	dir := flag.String("data", "", "`directory` of local-kms's LevelDB database (required)")
	region := flag.String("region", "eu-west-2", "AWS region in the key ARNs")
	account := flag.String("account", "111122223333", "AWS account id in the key ARNs")
	watchStdin := flag.Bool("watch-stdin", true, "exit at end of standard input (false: only on SIGINT or SIGTERM)")
	flag.Parse()
	if err := run(*listen, *dir, *region, *account, *watchStdin); err != nil {
		fmt.Fprintln(os.Stderr, "localkms:", err)
		os.Exit(2)
	}
}

func run(listen, dir, region, account string, watchStdin bool) error {
	if dir == "" {
		return fmt.Errorf("-data is required")
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %s: want a loopback IP literal such as 127.0.0.1", listen)
	}
	path, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	config.AWSRegion = region
	config.AWSAccountId = account
	config.DatabasePath = path
	db := data.NewDatabase(path) // panics on error
	defer db.Close()

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		return fmt.Errorf("bound to %s, not a loopback address", ln.Addr())
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			localkms.HandleRequest(w, r, db)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	stop := make(chan struct{}, 2)
	if watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin) // returns at end of file or on error: stop either way
			stop <- struct{}{}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		stop <- struct{}{}
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("localkms: listening on %s\n", ln.Addr())

	select {
	case err := <-served:
		return err
	case <-stop:
		return srv.Close()
	}
}
