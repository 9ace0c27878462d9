// Command haraftctl is the admin client of a haraft cluster: it calls the
// gRPC admin API (haraft.admin.v1.Admin) of any node.
//
//	haraftctl status                      this node: state, leader, term, indexes
//	haraftctl members                     Raft members with suffrage and last contact
//	haraftctl backends                    servers with agreed health, admin state, weight, sessions
//	haraftctl drain app/B                 (also ready, maint, weight, server add|remove)
//	haraftctl sessions get|list|count|delete|rebind
//	haraftctl eips | eip move|pin|unpin
//	haraftctl leader transfer [ID]
//	haraftctl snapshot save|restore FILE
//	haraftctl watch                       stream cluster events
//	haraftctl log reopen                  reopen the access log file (logrotate)
//	haraftctl -version                    build of this binary (module, VCS revision, Go)
//
// The node's address, token and TLS files come from flags or from
// HARAFT_ADDR, HARAFT_TOKEN (or HARAFT_TOKEN_FILE), HARAFT_CA, HARAFT_CERT,
// HARAFT_KEY. Output is an aligned table, or JSON with -o json. Exit codes:
// 0 ok, 1 other error, 2 usage or invalid argument, 3 not authenticated or
// not allowed (token or TLS), 4 not found, 5 cluster unavailable (no
// leader, unreachable, timed out; retry), 6 refused in the current state.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes one haraftctl command line and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCommand()
	if len(args) == 1 && args[0] == "-version" {
		args = []string{"--version"} // as haraftd spells it
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	a.close()
	if err == nil {
		return exitOK
	}
	return a.report(err)
}
