package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A shared store that cannot be reached at start is a configuration
// problem: exit status 2, the URL named without its password.
func TestServeSharedStoreUnreachable(t *testing.T) {
	tests := []struct {
		name, toml, want string
	}{
		{"redis", `[store]
backend = "redis+postgres"
redis_url = "redis://app:hunter2@127.0.0.1:1/0"
postgres_url = "postgres://app:hunter2@127.0.0.1:1/test"
`, "redis://app:xxxxx@127.0.0.1:1/0"},
		{"urls missing", `[store]
backend = "redis+postgres"
`, "needs redis_url and postgres_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("REDIS_URL", "")
			t.Setenv("DATABASE_URL", "")
			dir := t.TempDir()
			path := filepath.Join(dir, "conductor.toml")
			if err := os.WriteFile(path, []byte(tt.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			err := runServe(context.Background(), io.Discard, serveFlags{config: path, data: dir, logLevel: "info"})
			if exitCode(err) != exitInvalid {
				t.Fatalf("exit %d (%v), want %d", exitCode(err), err, exitInvalid)
			}
			msg := errorText(err)
			if strings.Contains(msg, "hunter2") || !strings.Contains(msg, tt.want) {
				t.Errorf("message %q: want %q and no password", msg, tt.want)
			}
		})
	}
}

// REDIS_URL and DATABASE_URL override the file's URLs.
func TestServeStoreURLsFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conductor.toml")
	if err := os.WriteFile(path, []byte("[store]\nbackend = \"redis+postgres\"\nredis_url = \"redis://127.0.0.1:6379/0\"\npostgres_url = \"postgres://127.0.0.1:5432/test\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDIS_URL", "redis://:pw@127.0.0.1:2/0")
	t.Setenv("DATABASE_URL", "postgres://127.0.0.1:2/test")
	err := runServe(context.Background(), io.Discard, serveFlags{config: path, data: dir, logLevel: "info"})
	if msg := errorText(err); exitCode(err) != exitInvalid || !strings.Contains(msg, "127.0.0.1:2") || strings.Contains(msg, ":pw@") {
		t.Fatalf("exit %d: %q, want the environment's Redis named, no password", exitCode(err), msg)
	}
}
