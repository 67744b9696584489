// Command soakgw is gatehouse for bench/soak.sh: cmd/gatehouse's main (the
// same command line, gateway/cli, and the built-in plugins) plus
// net/http/pprof on the loopback address in GATEHOUSE_PPROF, so that the soak
// can read the live heap after a forced GC (/debug/pprof/heap?gc=1) and take
// goroutine dumps without stopping the gateway.
package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // the /debug/pprof handlers on http.DefaultServeMux
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/gateway/cli"
	_ "github.com/gatehouse-dev/gatehouse/plugins/all" // the built-in plugins
)

func main() {
	if addr := os.Getenv("GATEHOUSE_PPROF"); addr != "" {
		if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
			fmt.Fprintf(os.Stderr, "soakgw: GATEHOUSE_PPROF %q: want a loopback host:port\n", addr)
			os.Exit(2)
		}
		srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			fmt.Fprintln(os.Stderr, "soakgw: pprof:", srv.ListenAndServe())
		}()
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
