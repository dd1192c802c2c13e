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
		doc := tt.doc + "[log]\ndurability = \"sync\"\n[[ai.gateway]]\nid = \"gw\"\ncache_scope = \"user\"\nrequest_timeout = \"5s\"\nidle_timeout = 7\ntotal_timeout = \"2m\"\n"
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
			if c.ID == "gw" && (c.CacheScope != CacheScopeUser || c.Retry.Timeout != 5*time.Second ||
				c.Retry.IdleTimeout != 7*time.Second || c.Retry.TotalTimeout != 2*time.Minute) {
				t.Errorf("gateway gw: cache scope %q, deadlines %v %v %v; want user, 5s 7s 2m", c.CacheScope, c.Retry.Timeout, c.Retry.IdleTimeout, c.Retry.TotalTimeout)
			}
			if c.ID != "gw" && (c.Retry.Timeout != DefaultFirstByteTimeout || c.Retry.IdleTimeout != DefaultIdleTimeout || c.Retry.TotalTimeout != DefaultTotalTimeout) {
				t.Errorf("gateway %s: deadlines %v %v %v, want the defaults", c.ID, c.Retry.Timeout, c.Retry.IdleTimeout, c.Retry.TotalTimeout)
			}
		}
	}
}
