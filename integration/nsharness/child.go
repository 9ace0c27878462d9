//go:build linux

package nsharness

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/haraft/haraft/proxy/demobackend"
)

// ChildEnv names the environment variable that turns a binary using this
// package into one of its helper processes (see ChildMain).
const ChildEnv = "HRT_CHILD"

// ChildMain must be called first thing in TestMain (or main) of every binary
// that uses this package: the harness starts its helper processes (demo
// backends) by running the same binary again inside a namespace with
// HRT_CHILD set, and ChildMain then runs the helper and exits. Without
// HRT_CHILD it returns at once.
func ChildMain() {
	switch os.Getenv(ChildEnv) {
	case "":
		return
	case "backend":
		name, addr := os.Getenv("HRT_NAME"), os.Getenv("HRT_ADDR")
		s, err := demobackend.Start(name, addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "backend %s: %v\n", name, err)
			os.Exit(1)
		}
		if tcp := os.Getenv("HRT_TCP_ADDR"); tcp != "" {
			if _, err := serveTCPName(name, tcp); err != nil {
				fmt.Fprintf(os.Stderr, "backend %s: %v\n", name, err)
				os.Exit(1)
			}
		}
		fmt.Fprintf(os.Stderr, "backend %s listening on %s\n", name, s.Addr())
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		_ = s.Close()
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", ChildEnv, os.Getenv(ChildEnv))
		os.Exit(2)
	}
}
