package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary documents to the loader in both modes: it must
// never panic, every failure must be a positioned *Error naming the file,
// and a document it accepts must be accepted again unchanged.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"full.toml", "wrangler.toml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, name == "wrangler.toml")
	}
	for _, s := range []string{
		"[ai]\nbinding = \"AI\"\n",
		"[[ai.gateway]]\nid = \"my-gateway\"\ncache_ttl = 3600\nrate_limiting_requests_per_minute = 60\n",
		"[[ai.gateway]]\ncache_ttl = true\n",
		"[providers.openai]\napi_key = \"sk-abcdefghijklmnop\"\n",
		"ai = { gateway = [ { id = \"a\", cache_ttl = \"1h\" } ] }\n",
		"[ai.gateway]\nid = 1\n",
		"[[ai]]\n",
		"a.b.c = 1\n[a]\n",
		"[[budget]]\nname = \"b\"\nalerts = [1, \"x\"]\n",
		"[[split]]\nname = \"ab\"\n[[split.variant]]\nname = \"a\"\nweight = nan\ntemperature = inf\n",
		"split = [ { name = \"ab\", variant = [ { name = \"a\", provider = \"openai\" } ] } ]\n",
		"[[model]]\nname = \"m\"\nstrategy = \"latency\"\n[[model.deployment]]\nroute = \"openai/x\"\nkeys_env = [\"A\", \"B\"]\nrpm = 5\ntier = 2\n[model.breaker]\nerror_rate = 0.5\nwindow = \"30s\"\n",
		"model = [ { name = \"m\", deployment = [ { route = \"local/x\", base_url = \"http://h:1/v1\", weight = 1e3 } ] } ]\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, wrangler bool) {
		c, err := Parse("f.toml", data, wrangler)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a config *Error: %T %v", err, err)
			}
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.toml:") {
					t.Fatalf("error line without the file: %q", line)
				}
			}
			return
		}
		if c == nil {
			t.Fatal("nil config without an error")
		}
		if _, err := Parse("f.toml", data, wrangler); err != nil {
			t.Fatalf("second parse failed: %v", err)
		}
	})
}
