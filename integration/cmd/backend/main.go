// Command backend runs the demo application server (proxy/demobackend) on
// its own: the backends of the compose test cluster and of anything else
// that needs a stand-alone stateful app server. A request without a
// JSESSIONID cookie gets Set-Cookie: JSESSIONID=<random>; every response
// carries X-Backend: NAME.
//
//	backend -name A -addr :8080
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/haraft/haraft/proxy/demobackend"
)

func main() {
	name := flag.String("name", "A", "server name, sent in X-Backend")
	addr := flag.String("addr", ":8080", "listen address")
	flag.Parse()
	s, err := demobackend.Start(*name, *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "backend %s listening on %s\n", *name, s.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Shutdown(sctx)
}
