package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Strategies of a [[model]] with several deployments (Model.Strategy).
const (
	StrategyWeighted  = "weighted"   // at random, in proportion to weight (default)
	StrategyLeastBusy = "least-busy" // the fewest calls in flight
	StrategyLatency   = "latency"    // the lower peak-EWMA latency of two picked at random
	StrategyCost      = "cost"       // the cheapest by the price table
)

// Deployment is one [[model.deployment]]: a provider and model with its
// own key, base URL, share of traffic, rate limits and priority tier.
type Deployment struct {
	// Name shows in the log, stats, metrics and the dashboard; default
	// the route, with the key's variable when several keys share it.
	Name string `toml:"name"`
	// Route is "provider/model", e.g. "openai/gpt-4o-mini".
	Route string `toml:"route"`
	// BaseURL replaces the provider's base URL for this deployment (a
	// region, a second vLLM server).
	BaseURL string `toml:"base_url"`
	// KeyEnv names the variable holding this deployment's key, KeyFile a
	// file holding it; neither: the provider's own key.
	KeyEnv  string `toml:"key_env"`
	KeyFile string `toml:"key_file"`
	// KeysEnv names several variables: one deployment per key, the other
	// settings shared.
	KeysEnv []string `toml:"keys_env"`
	// Weight is the deployment's share under strategy weighted (default 1).
	Weight int `toml:"weight"`
	// Tier is its priority (default 1): tier 2 gets calls only when every
	// tier-1 deployment is open or at its rate limit.
	Tier int `toml:"tier"`
	// RPM and TPM are the provider's limits for this key (requests and
	// tokens per minute; 0 none): a deployment at its limit is skipped
	// before the provider would answer 429.
	RPM int64 `toml:"rpm"`
	TPM int64 `toml:"tpm"`
}

// Breaker is a [model.breaker] table (its defaults are package gateway's
// BreakerConfig's): a deployment's breaker opens after
// Failures consecutive failures, or when at least MinRequests calls in the
// last Window failed at ErrorRate or more; after Cooldown one probe call
// goes through, and its success closes the breaker.
type Breaker struct {
	Failures    int      `toml:"failures"`     // default 5; -1 turns the count off
	ErrorRate   float64  `toml:"error_rate"`   // default 0.5 (a fraction); -1 turns it off
	Window      Duration `toml:"window"`       // default 1 minute
	MinRequests int      `toml:"min_requests"` // default 20
	Cooldown    Duration `toml:"cooldown"`     // default 30 s
}

// ModelDeployment is one deployment of a [[model]] as the router builds
// it: the routes first (tier by position, so that they are tried in
// order as a fallback chain), then the [[model.deployment]] tables with
// keys_env expanded into one deployment per key. It names where the key
// is, never the key.
type ModelDeployment struct {
	Name            string
	Provider, Model string
	BaseURL         string
	KeyEnv, KeyFile string
	Weight, Tier    int
	RPM, TPM        int64
}

// Expand returns m's deployments (see ModelDeployment).
func (m Model) Expand() []ModelDeployment {
	var out []ModelDeployment
	for i, r := range m.Routes {
		p, mod, _ := strings.Cut(r, "/")
		out = append(out, ModelDeployment{Name: r, Provider: p, Model: mod, Weight: 1, Tier: i + 1})
	}
	for _, d := range m.Deployments {
		p, mod, _ := strings.Cut(d.Route, "/")
		base := ModelDeployment{Name: d.Name, Provider: p, Model: mod, BaseURL: strings.TrimRight(d.BaseURL, "/"),
			KeyEnv: d.KeyEnv, KeyFile: d.KeyFile, Weight: d.Weight, Tier: d.Tier, RPM: d.RPM, TPM: d.TPM}
		if base.Weight == 0 {
			base.Weight = 1
		}
		if base.Tier == 0 {
			base.Tier = 1
		}
		if base.Name == "" {
			base.Name = d.Route
		}
		if len(d.KeysEnv) == 0 {
			out = append(out, base)
			continue
		}
		for _, k := range d.KeysEnv {
			e := base
			e.KeyEnv, e.KeyFile = k, ""
			e.Name = base.Name + "@" + k
			out = append(out, e)
		}
	}
	seen := make(map[string]int, len(out))
	for i := range out {
		n := out[i].Name
		if c := seen[n]; c > 0 {
			out[i].Name = n + "#" + strconv.Itoa(c+1)
		}
		seen[n]++
	}
	return out
}

// DeploymentKey returns a deployment's own key (its key_file, else its
// key_env variable); IsSet is false when it names neither, and the
// provider's key serves it.
func (c *Config) DeploymentKey(model string, d ModelDeployment, env LookupEnv) (Secret, error) {
	if d.KeyEnv == "" && d.KeyFile == "" {
		return Secret{}, nil
	}
	return c.secret(env, d.KeyFile, d.KeyEnv, fmt.Sprintf("[[model]] %s, deployment %s", model, d.Name))
}

// ModelByName returns the [[model]] named name.
func (c *Config) ModelByName(name string) (Model, bool) {
	for _, m := range c.Models {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}
