package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// scenario is one kind of traffic, sent to each target that takes it.
type scenario struct {
	name, about string
	fake        fakeConfig
	// config is what the scenario adds to conductor's generated
	// conductor.toml (after the [[ai.gateway]] table).
	config string
	// ensembles are files for serve's --ensembles directory.
	ensembles map[string]string
	// direct is the call straight to the fake (nginx and direct send it);
	// gateway is the call an OpenAI client makes to a gateway. Either may
	// be nil: the scenario then skips those targets.
	direct  func(base string) call
	gateway func(base string) call
	// upstreamPer is the number of upstream calls each request makes
	// through a gateway (an ensemble's members); 0 means 1. cached: after
	// the warm-up none reaches the upstream.
	upstreamPer int
	cached      bool
	// phases replace the run's default open and closed loops.
	phases []phase
	stream bool
	// quick scenarios make the CI smoke run.
	quick bool
	// skip names targets the scenario says nothing about (nginx has no
	// cache and no limits: it would measure the whole scenario again).
	skip []string
}

const (
	smallPrompt = `{"model":%q,"max_tokens":64,"messages":[{"role":"user","content":%q}]}`
	benchModel  = "gpt-4o-mini"
)

func openAIBody(model, prompt string, extra string) []byte {
	b := fmt.Sprintf(smallPrompt, model, prompt)
	if extra != "" {
		b = b[:len(b)-1] + "," + extra + "}"
	}
	return []byte(b)
}

func chatCall(base, model, prompt, extra string, want string) call {
	return call{url: strings.TrimSuffix(base, "/") + "/v1/chat/completions", body: openAIBody(model, prompt, extra), want: []byte(want)}
}

// prompt returns a user message of about n bytes.
func prompt(n int) string {
	const words = "the quick brown fox jumps over the lazy dog while the gateway counts every token "
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words)
	}
	return b.String()[:n]
}

const toolsOpenAI = `"tools":[{"type":"function","function":{"name":"get_weather","description":"The weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"tool_choice":"auto"`

const toolsAnthropic = `{"model":"claude-3-5-sonnet-20241022","max_tokens":64,"tools":[{"name":"get_weather","description":"The weather in a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],"tool_choice":{"type":"auto"},"messages":[{"role":"user","content":"What is the weather in Paris?"}]}`

const ensemble3 = `name: bench3
description: Three members on the built-in gateway, for the load harness.
flow:
  - member: draft
    config:
      provider: openai
      model: gpt-4o-mini
      routing: cloudflare-gateway
      prompt: "Draft: ${input.text}"
  - member: critique
    config:
      provider: openai
      model: gpt-4o-mini
      routing: cloudflare-gateway
      prompt: "Critique: ${draft.output}"
  - member: final
    config:
      provider: openai
      model: gpt-4o-mini
      routing: cloudflare-gateway
      prompt: "Final: ${critique.output}"
`

const limitsConfig = `
[[rate_limit]]
name = "bench-requests"
scope = "gateway"
requests = 1000000000
window = "1m"

[[budget]]
name = "bench-spend"
scope = "gateway"
daily_usd = 1000000
`

func scenarios() []scenario {
	whole := func(p string) func(string) call {
		return func(base string) call { return chatCall(base, benchModel, p, "", "Hello! How can I assist") }
	}
	gw := func(p string) func(string) call {
		return func(base string) call { return chatCall(base, "openai/"+benchModel, p, "", "Hello! How can I assist") }
	}
	return []scenario{
		{
			name: "whole", about: "a whole OpenAI answer, cache off", quick: true,
			direct: whole("Say hello."), gateway: gw("Say hello."),
		},
		{
			name: "stream", about: "a streamed OpenAI answer of 20 chunks", quick: true, stream: true,
			fake: fakeConfig{Chunks: 20},
			direct: func(base string) call {
				return chatCall(base, benchModel, "Say hello.", `"stream":true`, "[DONE]")
			},
			gateway: func(base string) call {
				return chatCall(base, "openai/"+benchModel, "Say hello.", `"stream":true`, "[DONE]")
			},
		},
		{
			name: "cache-hit", about: "every request a cache hit (cache_ttl 1h)", quick: true, cached: true,
			config: "cache_ttl = \"1h\"\n", skip: []string{"nginx"},
			direct: whole("Say hello."), gateway: gw("Say hello."),
		},
		{
			name: "prompt-1k", about: "a 1 KB prompt", skip: []string{"nginx"},
			direct: whole(prompt(1 << 10)), gateway: gw(prompt(1 << 10)),
		},
		{
			name: "prompt-64k", about: "a 64 KB prompt",
			direct: whole(prompt(64 << 10)), gateway: gw(prompt(64 << 10)),
		},
		{
			name: "limits", about: "one rate limit and one budget", quick: true,
			config: limitsConfig, skip: []string{"direct", "nginx"},
			direct: whole("Say hello."), gateway: gw("Say hello."),
		},
		{
			name: "slow-1000", about: "a 50 ms upstream, 1,000 concurrent connections",
			fake:   fakeConfig{Latency: 50 * time.Millisecond, Jitter: 5 * time.Millisecond},
			direct: whole("Say hello."), gateway: gw("Say hello."),
			phases: []phase{{conns: 1000, duration: 6 * time.Second}},
		},
		{
			name: "tools", about: "an OpenAI tool call served by an Anthropic upstream (translated both ways)", quick: true,
			direct: func(base string) call {
				return call{url: strings.TrimSuffix(base, "/") + "/v1/messages", body: []byte(toolsAnthropic),
					header: http.Header{"Anthropic-Version": {"2023-06-01"}}, want: []byte(`"tool_use"`)}
			},
			gateway: func(base string) call {
				return chatCall(base, "anthropic/claude-3-5-sonnet-20241022", "What is the weather in Paris?", toolsOpenAI, `"tool_calls"`)
			},
		},
		{
			name: "ensemble", about: "a three-member ensemble through /v1/ensembles/{name}/run", quick: true,
			ensembles:   map[string]string{"bench3.yaml": ensemble3},
			upstreamPer: 3,
			gateway: func(base string) call {
				return call{url: strings.TrimSuffix(base, "/") + "/v1/ensembles/bench3/run", body: []byte(`{"text":"hello"}`), want: []byte("Hello! How can I assist")}
			},
		},
	}
}
