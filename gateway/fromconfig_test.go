package gateway

import (
	"testing"
	"time"

	"github.com/conductor-go/conductor/config"
)

// [gateway] log_retention: unset is the 30-day default, 0 keeps every row,
// a duration is that duration; [log] durability and cache_scope reach the
// gateways.
func TestConfigsFromFile(t *testing.T) {
	for _, tt := range []struct {
		doc       string
		retention time.Duration
	}{
		{"", DefaultLogRetention},
		{"[gateway]\nlog_retention = 0\n", KeepLogs},
		{"[gateway]\nlog_retention = \"48h\"\n", 48 * time.Hour},
	} {
		doc := tt.doc + "[log]\ndurability = \"sync\"\n[[ai.gateway]]\nid = \"gw\"\ncache_scope = \"user\"\n"
		cfg, err := config.Parse("c.toml", []byte(doc), false)
		if err != nil {
			t.Fatal(err)
		}
		configs, _ := Configs(cfg, config.MapEnv(nil), nil)
		for _, c := range configs {
			if err := c.fill(); err != nil {
				t.Fatal(err)
			}
			if c.LogRetention != tt.retention || c.LogDurability != DurabilitySync {
				t.Errorf("%q: gateway %s retention %v durability %q, want %v sync", tt.doc, c.ID, c.LogRetention, c.LogDurability, tt.retention)
			}
			if c.ID == "gw" && c.CacheScope != CacheScopeUser {
				t.Errorf("gateway gw cache scope %q", c.CacheScope)
			}
		}
	}
}
