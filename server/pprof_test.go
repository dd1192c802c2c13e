package server

import (
	"io"
	"net/http"
	"testing"
)

// /debug/pprof/ answers only the admin token, and is not there at all
// without one: profiles are the operator's.
func TestDebugPprof(t *testing.T) {
	get := func(t *testing.T, ts *testServer, token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.url+"/debug/pprof/cmdline", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	ts := adminServer(t, "")
	for _, tt := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a gateway token", "tok-alice", http.StatusUnauthorized},
		{"a wrong admin token", adminToken + "x", http.StatusUnauthorized},
		{"the admin token", adminToken, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := get(t, ts, tt.token); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
	off := configServer(t, "", map[string]string{"CONDUCTOR_TOKENS": "alice=tok-alice"})
	if got := get(t, off, "tok-alice"); got == http.StatusOK {
		t.Errorf("without an admin token /debug/pprof/ answered %d", got)
	}
}
