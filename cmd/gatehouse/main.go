// Command gatehouse is the gateway: `gatehouse -config routes.yaml` runs it,
// `gatehouse validate -config routes.yaml` checks a config file.
//
// Run it from a checkout with `go run ./cmd/gatehouse -config routes.yaml`,
// install it with `go install github.com/gatehouse-dev/gatehouse/cmd/gatehouse@latest`.
// To ship your own plugins, copy this file into a main of your own and add a
// blank import of your plugin package (see docs/plugins.md).
package main

import (
	"os"

	"github.com/gatehouse-dev/gatehouse/gateway/cli"
	_ "github.com/gatehouse-dev/gatehouse/plugins/all" // the built-in plugins
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
