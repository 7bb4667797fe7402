// Package scripttest holds the testscript commands that the CLI's script
// tests share: those of internal/cli and those of the KMS binary in the
// kms module.
package scripttest

import (
	"context"
	"regexp"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Cmds returns the shared commands, to merge into testscript.Params.Cmds:
//
//	exitcode N prog args...  run prog and require exit code N; its stdout
//	                         and stderr are checked by the next stdout and
//	                         stderr commands
//	capture VAR REGEXP       set $VAR to the first submatch of REGEXP in the
//	                         last command's stdout
func Cmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"exitcode": exitcode,
		"capture":  capture,
	}
}

func exitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N prog [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		ee, ok := err.(interface{ ExitCode() int })
		if !ok {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

func capture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: capture VAR REGEXP")
	}
	m := regexp.MustCompile(args[1]).FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) != 2 {
		ts.Fatalf("capture: %q does not match stdout with one group", args[1])
	}
	ts.Setenv(args[0], m[1])
}

// Context returns the context of one script command's database work.
func Context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}
