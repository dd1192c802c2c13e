package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	tests := []struct {
		name string
		info *debug.BuildInfo
		want []string
	}{
		{"no build info", nil, []string{"conductor (devel) go"}},
		{"release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, []string{"conductor v1.2.3 go1.26.8"}},
		{"vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}},
			[]string{"conductor (devel) (rev 0123456789ab, modified) go1.26.8"}},
	}
	for _, tc := range tests {
		got := versionLine(tc.info)
		for _, w := range tc.want {
			if !strings.HasPrefix(got, w) {
				t.Errorf("%s: versionLine = %q, want prefix %q", tc.name, got, w)
			}
		}
	}
}
