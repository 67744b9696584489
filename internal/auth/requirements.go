package auth

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/gatehouse-dev/gatehouse/httperr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// Client-facing messages of the route requirements.
const (
	msgInsufficientScope = "insufficient scope"
	msgAccessDenied      = "access denied"
)

// requirements are a route's required_scopes and required_claims, prepared
// once per route by Gate.
//
// Where they apply (the README's contract):
//   - required_scopes: bearer tokens only (auth bearer, and auth any without
//     a session cookie). Every scope must be granted: listed in the token's
//     "scope" claim (space-separated, RFC 8693 §4.2 / RFC 9068 §2.2.3) or its
//     "scp" claim (a list, or a space-separated string, as Okta and Azure AD
//     issue it). A session carries no scopes and is not scope-checked.
//   - required_claims: bearer tokens (the validated JWT's claims) and
//     sessions (the ID token's claims, refreshed with the session), e.g.
//     "only users with role admin" on a browser route. Each claim must equal
//     the value, or contain it when the claim is a list.
//
// A failed requirement is 403, and nothing is forwarded. A bearer caller
// also gets WWW-Authenticate: Bearer error="insufficient_scope" (RFC 6750
// §3.1: "the request requires higher privileges than provided by the access
// token"), with scope="..." naming the route's scopes when a scope was
// missing. A missing claim is insufficient_scope too, not invalid_token: the
// token is valid, and asking the client to fetch a new one (what
// invalid_token invites) would not help. Which claim failed is logged, never
// told to the client.
type requirements struct {
	scopes []string
	claims []claimRequirement // sorted by name: deterministic checks and logs
	// scopeChallenge is the WWW-Authenticate value for a missing scope.
	scopeChallenge string
}

type claimRequirement struct {
	name, value string
}

// challengeInsufficient is the WWW-Authenticate value for a missing claim.
const challengeInsufficient = `Bearer realm="gatehouse", error="insufficient_scope"`

func newRequirements(route *config.Route) requirements {
	q := requirements{scopes: slices.Clone(route.RequiredScopes)}
	for name, value := range route.RequiredClaims {
		q.claims = append(q.claims, claimRequirement{name, value})
	}
	slices.SortFunc(q.claims, func(a, b claimRequirement) int { return strings.Compare(a.name, b.name) })
	if len(q.scopes) > 0 {
		// Scope tokens (validated at load) contain neither '"' nor '\'.
		q.scopeChallenge = challengeInsufficient + `, scope="` + strings.Join(q.scopes, " ") + `"`
	}
	return q
}

// empty reports a route without requirements.
func (q *requirements) empty() bool { return len(q.scopes) == 0 && len(q.claims) == 0 }

// checkRequirements applies the requirements to the caller's claims; bearer says the
// claims are a bearer token's (scopes are checked and the WWW-Authenticate
// challenge is set). It returns the 403 to answer, or nil, and logs why.
func (a *Auth) checkRequirements(c *fiber.Ctx, q *requirements, claims map[string]any, bearer bool) error {
	if bearer {
		for _, s := range q.scopes {
			if !hasScope(claims, s) {
				a.log.InfoContext(c.UserContext(), "auth: bearer token lacks a required scope", "scope", s, "path", c.Path())
				c.Set(fiber.HeaderWWWAuthenticate, q.scopeChallenge)
				return httperr.New(fiber.StatusForbidden, msgInsufficientScope)
			}
		}
	}
	for _, r := range q.claims {
		if !claimMatches(claims[r.name], r.value) {
			a.log.InfoContext(c.UserContext(), "auth: caller lacks a required claim", "claim", r.name, "bearer", bearer, "path", c.Path())
			if bearer {
				c.Set(fiber.HeaderWWWAuthenticate, challengeInsufficient)
			}
			return httperr.New(fiber.StatusForbidden, msgAccessDenied)
		}
	}
	return nil
}

// hasScope reports whether the token's "scope" or "scp" claim grants scope.
func hasScope(claims map[string]any, scope string) bool {
	for _, name := range [...]string{"scope", "scp"} {
		switch v := claims[name].(type) {
		case string:
			for f := range strings.FieldsSeq(v) {
				if f == scope {
					return true
				}
			}
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok && s == scope {
					return true
				}
			}
		case []string:
			if slices.Contains(v, scope) {
				return true
			}
		}
	}
	return false
}

// claimMatches reports whether a claim value satisfies a required value: a
// string equal to it; a number or boolean whose JSON text equals it; a list
// with such an element (one level: a list of lists does not count). Objects
// and absent claims never match.
func claimMatches(v any, want string) bool {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if scalarMatches(e, want) {
				return true
			}
		}
		return false
	case []string:
		return slices.Contains(v, want)
	}
	return scalarMatches(v, want)
}

func scalarMatches(v any, want string) bool {
	switch v := v.(type) {
	case string:
		return v == want
	case bool:
		return strconv.FormatBool(v) == want
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64) == want
	case json.Number:
		return v.String() == want
	case int:
		return strconv.Itoa(v) == want
	case int64:
		return strconv.FormatInt(v, 10) == want
	}
	return false
}
