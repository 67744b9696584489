package headers

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/plugins"
	"github.com/gatehouse-dev/gatehouse/plugins/plugintest"
)

// TestFacts: the plugin tells the plugins that wrap it (a cache) that its
// responses depend on the caller exactly when a response rule's value has a
// {claim.*} or {request.ip} placeholder.
func TestFacts(t *testing.T) {
	t.Parallel()
	dependent := plugins.Facts{IdentityDependent: true, What: "{claim.*} response headers"}
	fromAddress := plugins.Facts{IdentityDependent: true, What: "{request.ip} response headers"}
	for _, tt := range []struct {
		name, block string
		want        plugins.Facts
	}{
		{"claim in a response set", `response: {set: {X-User: "{claim.sub}"}}`, dependent},
		{"claim in a response add", `response: {add: {X-User: "user {claim.email}"}}`, dependent},
		{"claim on the request only", `request: {set: {X-User-Id: "{claim.sub}"}}`, plugins.Facts{}},
		{"an escaped brace is no placeholder", `response: {set: {X-Lit: "{{claim.sub}}"}, remove: [Server]}`, plugins.Facts{}},
		{"request placeholders", `response: {set: {X-Id: "{request.id} {request.path} {route.name}"}}`, plugins.Facts{}},
		{"the client's address on a response", `response: {set: {X-Seen-From: "{request.ip}"}}`, fromAddress},
		{"the client's address added to a response", `response: {add: {X-Via: "gw {request.ip}"}}`, fromAddress},
		{"both", `response: {set: {X-Seen-From: "{request.ip}", X-User: "{claim.sub}"}}`,
			plugins.Facts{IdentityDependent: true, What: "{claim.*} and {request.ip} response headers"}},
		{"the client's address on the request only", `request: {set: {X-Client: "{request.ip}"}}`, plugins.Facts{}},
		{"a removed name is no value", `response: {remove: ["X-Claim-Sub"]}`, plugins.Facts{}},
		{"a block New refuses", `response: {set: {X-User: "{claim.sub}", Connection: close}}`, plugins.Facts{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Facts(plugintest.Spec(t, tt.block)); got != tt.want {
				t.Errorf("Facts(%s) = %+v, want %+v", tt.block, got, tt.want)
			}
		})
	}
}
