// Command plugin is a gatehouse build with one extra plugin: the built-in
// plugins (plugins/all) plus deny_user_agent from ./denyua. It runs exactly
// the stock gateway otherwise. It is a module of its own, as a plugin
// written outside gatehouse is (see go.mod), so it is run from here:
//
//	cd examples/plugin
//	go run . validate -config routes.yaml
//	go run . -config routes.yaml
//
// Your own build looks the same: copy this file and go.mod, rename the
// module, require a gatehouse release instead of the replace, and replace
// the denyua import with your plugin packages.
package main

import (
	"os"

	_ "github.com/gatehouse-dev/gatehouse/examples/plugin/denyua" // the extra plugin
	"github.com/gatehouse-dev/gatehouse/gateway/cli"
	_ "github.com/gatehouse-dev/gatehouse/plugins/all" // the built-in plugins
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
