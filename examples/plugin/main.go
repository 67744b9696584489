// Command plugin is a gatehouse build with one extra plugin: the built-in
// plugins (plugins/all) plus deny_user_agent from ./denyua. It runs exactly
// the stock gateway otherwise:
//
//	go run ./examples/plugin validate -config examples/plugin/routes.yaml
//	go run ./examples/plugin -config examples/plugin/routes.yaml
//
// Your own build looks the same: copy this file, replace the denyua import
// with your plugin packages.
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
