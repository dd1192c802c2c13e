package config

import (
	"strings"
	"testing"
)

// Every new key of [[model]] is checked, each problem at its place.
func TestDeploymentValidation(t *testing.T) {
	for _, tc := range []struct{ name, toml, want string }{
		{"strategy", "[[model]]\nname = \"m\"\nroutes = [\"openai/gpt-4o\"]\nstrategy = \"fastest\"\n", `conductor.toml:4:1: model[0].strategy: unknown strategy "fastest"`},
		{"route", "[[model]]\nname = \"m\"\n[[model.deployment]]\nroute = \"nope/x\"\n", `conductor.toml:4:1: model[0].deployment[0].route: route "nope/x": expected "provider/model" with a provider among: workers-ai, openai, anthropic, groq, local, mock`},
		{"no route", "[[model]]\nname = \"m\"\n[[model.deployment]]\nweight = 2\n", `conductor.toml:3:3: model[0].deployment[0]: every [[model.deployment]] needs a route (route = "openai/gpt-4o-mini")`},
		{"base_url", "[[model]]\nname = \"m\"\n[[model.deployment]]\nroute = \"local/x\"\nbase_url = \"ftp://h\"\n", `conductor.toml:5:1: model[0].deployment[0].base_url: expected an http:// or https:// URL`},
		{"key_env", "[[model]]\nname = \"m\"\n[[model.deployment]]\nroute = \"openai/x\"\nkey_env = \"my key\"\n", `conductor.toml:5:1: model[0].deployment[0].key_env: expected the name of an environment variable, such as OPENAI_API_KEY`},
		{"keys_env", "[[model]]\nname = \"m\"\n[[model.deployment]]\nroute = \"openai/x\"\nkeys_env = [\"A\", \"b c\"]\n", `conductor.toml:5:18: model[0].deployment[0].keys_env[1]: expected the name of an environment variable,`},
		{"two keys", "[[model]]\nname = \"m\"\n[[model.deployment]]\nroute = \"openai/x\"\nkey_env = \"A\"\nkeys_env = [\"B\"]\n", `conductor.toml:3:3: model[0].deployment[0]: key_env, key_file and keys_env name the key: set one of them`},
		{"weight", "[[model]]\nname = \"m\"\n[[model.deployment]]\nroute = \"openai/x\"\nweight = -1\n", `conductor.toml:5:1: model[0].deployment[0].weight: weight -1 is negative`},
		{"tier", "[[model]]\nname = \"m\"\n[[model.deployment]]\nroute = \"openai/x\"\ntier = -2\n", `conductor.toml:5:1: model[0].deployment[0].tier: tier -2 is negative`},
		{"rpm", "[[model]]\nname = \"m\"\n[[model.deployment]]\nroute = \"openai/x\"\nrpm = -5\n", `conductor.toml:5:1: model[0].deployment[0].rpm: rpm -5 is negative`},
		{"tpm", "[[model]]\nname = \"m\"\n[[model.deployment]]\nroute = \"openai/x\"\ntpm = -5\n", `conductor.toml:5:1: model[0].deployment[0].tpm: tpm -5 is negative`},
		{"error_rate", "[[model]]\nname = \"m\"\nroutes = [\"openai/x\"]\n[model.breaker]\nerror_rate = 2.0\n", `conductor.toml:5:1: model[0].breaker.error_rate: error_rate 2`},
		{"failures", "[[model]]\nname = \"m\"\nroutes = [\"openai/x\"]\n[model.breaker]\nfailures = -3\n", `conductor.toml:5:1: model[0].breaker.failures: failures -3`},
		{"cooldown", "[[model]]\nname = \"m\"\nroutes = [\"openai/x\"]\n[model.breaker]\ncooldown = \"-1s\"\n", `conductor.toml:5:12: model.breaker.cooldown: a duration cannot be negative`},
		{"health", "[[model]]\nname = \"m\"\nroutes = [\"openai/x\"]\nhealth_check_interval = \"10ms\"\n", `conductor.toml:4:1: model[0].health_check_interval: health_check_interval 10ms`},
		{"unknown key", "[[model]]\nname = \"m\"\n[[model.deployment]]\nroute = \"openai/x\"\nwieght = 1\n", `conductor.toml:5:1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("conductor.toml", []byte(tc.toml), false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// keys_env becomes one deployment per key; routes come first, tier by
// position; names are unique and never hold a key.
func TestModelExpand(t *testing.T) {
	cfg, err := Parse("conductor.toml", []byte(`
[[model]]
name = "fast-chat"
routes = ["openai/gpt-4o-mini"]

[[model.deployment]]
route = "openai/gpt-4o-mini"
keys_env = ["OPENAI_API_KEY", "OPENAI_API_KEY_2"]
rpm = 500
weight = 3

[[model.deployment]]
name = "box"
route = "local/llama"
base_url = "http://10.0.0.5:8000/v1/"
tier = 2
`), false)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Models[0].Expand()
	want := []ModelDeployment{
		{Name: "openai/gpt-4o-mini", Provider: "openai", Model: "gpt-4o-mini", Weight: 1, Tier: 1},
		{Name: "openai/gpt-4o-mini@OPENAI_API_KEY", Provider: "openai", Model: "gpt-4o-mini", KeyEnv: "OPENAI_API_KEY", Weight: 3, Tier: 1, RPM: 500},
		{Name: "openai/gpt-4o-mini@OPENAI_API_KEY_2", Provider: "openai", Model: "gpt-4o-mini", KeyEnv: "OPENAI_API_KEY_2", Weight: 3, Tier: 1, RPM: 500},
		{Name: "box", Provider: "local", Model: "llama", BaseURL: "http://10.0.0.5:8000/v1", Weight: 1, Tier: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d deployments: %+v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("deployment %d: %+v\nwant %+v", i, got[i], want[i])
		}
	}
	k, err := cfg.DeploymentKey("fast-chat", got[2], MapEnv(map[string]string{"OPENAI_API_KEY_2": "sk-second-key-xyz"}))
	if err != nil || k.Value() != "sk-second-key-xyz" {
		t.Errorf("key: %v %v", k, err)
	}
}
