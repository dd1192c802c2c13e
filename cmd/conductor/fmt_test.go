package main

import (
	"os"
	"strings"
	"testing"
)

// The reproduction: the page's unquoted ternary, which strict YAML
// refuses, is rewritten into standard YAML with its comments and order
// kept; --check names the file and exits 1 without writing; a formatted
// file is left alone.
func TestFmt(t *testing.T) {
	const page = `# load balancing, as the page writes it
name: lb
flow:
  - member: generate-summary
    config:
      # Alternate between providers
      provider: ${input.requestId % 2 === 0 ? 'openai' : 'anthropic'}
      model: ${input.requestId % 2 === 0 ? 'gpt-4o' : 'claude-3-5-sonnet-20241022'}  # both
      routing: cloudflare-gateway
`
	const want = `# load balancing, as the page writes it
name: lb
flow:
  - member: generate-summary
    config:
      # Alternate between providers
      provider: "${input.requestId % 2 === 0 ? 'openai' : 'anthropic'}"
      model: "${input.requestId % 2 === 0 ? 'gpt-4o' : 'claude-3-5-sonnet-20241022'}"  # both
      routing: cloudflare-gateway
`
	f := writeFile(t, "lb.yaml", page)
	if err := os.Chmod(f, 0o640); err != nil {
		t.Fatal(err)
	}
	code, out, errs := cli(t, "", "fmt", "--check", f)
	if code != 1 || out != f+"\n" || errs != "" {
		t.Errorf("--check: exit %d out %q err %q", code, out, errs)
	}
	if b, _ := os.ReadFile(f); string(b) != page {
		t.Error("--check wrote the file")
	}
	if code, out, errs := cli(t, "", "fmt", f); code != 0 || out != "" || errs != "" {
		t.Errorf("fmt: exit %d out %q err %q", code, out, errs)
	}
	b, _ := os.ReadFile(f)
	if string(b) != want {
		t.Errorf("formatted:\n%s\nwant:\n%s", b, want)
	}
	if info, _ := os.Stat(f); info.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the file's own", info.Mode().Perm())
	}
	if code, out, _ := cli(t, "", "fmt", "--check", f); code != 0 || out != "" {
		t.Errorf("--check after fmt: exit %d out %q", code, out)
	}
	// Both forms run the same.
	if code, _, errs := cli(t, "", "validate", f); code != 0 {
		t.Errorf("validate: %d %s", code, errs)
	}
	// Standard input to standard output.
	if code, out, _ := cli(t, page, "fmt", "-"); code != 0 || out != want {
		t.Errorf("fmt -: exit %d out %q", code, out)
	}
}

func TestFmtErrors(t *testing.T) {
	broken := writeFile(t, "broken.yaml", "name: x\nflow: [1, 2\n")
	code, _, errs := cli(t, "", "fmt", broken, "/nonexistent/flow.yaml")
	if code != 2 || !strings.Contains(errs, broken+":") || !strings.Contains(errs, "/nonexistent/flow.yaml: cannot read the ensemble file") {
		t.Errorf("exit %d: %s", code, errs)
	}
	// The repository's own examples are formatted.
	if code, out, errs := cli(t, "", "fmt", "--check", "../../examples/quickstart.yaml", "../../examples/load-balancing.yaml", "../../examples/environment-routing.yaml"); code != 0 {
		t.Errorf("examples need formatting: %d %s %s", code, out, errs)
	}
}
