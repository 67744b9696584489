// Package all links in every built-in plugin: the one list of what ships.
// The gateway's main, and any main of your own that adds plugins, imports it:
//
//	import _ "github.com/gatehouse-dev/gatehouse/plugins/all"
package all

import (
	// Each import registers its plugin in init.
	_ "github.com/gatehouse-dev/gatehouse/plugins/cache"
	_ "github.com/gatehouse-dev/gatehouse/plugins/headers"
	_ "github.com/gatehouse-dev/gatehouse/plugins/ratelimit"
)
