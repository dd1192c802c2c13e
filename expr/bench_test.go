package expr

import "testing"

// benchVars are the seed page's situations: a request id, an environment,
// and the results of earlier members.
func benchVars() *Vars {
	return &Vars{
		Input: map[string]any{"requestId": 42.0, "text": "Hello"},
		Env:   testEnv,
		Members: []any{
			map[string]any{"output": "simple", "success": true},
			map[string]any{"output": map[string]any{"intent": "complex"}, "success": true},
			map[string]any{"output": "short", "success": true, "scoring": map[string]any{"score": 0.55}},
			map[string]any{"success": false},
		},
	}
}

func benchEval(b *testing.B, src string) {
	p, err := Compile(src, NewNames(flowMembers), len(flowMembers))
	if err != nil {
		b.Fatal(err)
	}
	v := benchVars()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Eval(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScoreThreshold(b *testing.B) { benchEval(b, "quick-answer.scoring.score < 0.7") }

func BenchmarkLoadBalance(b *testing.B) {
	benchEval(b, "input.requestId % 2 === 0 ? 'openai' : 'anthropic'")
}

func BenchmarkNotSuccess(b *testing.B) { benchEval(b, "!generate-content.success") }

func BenchmarkIntentEquals(b *testing.B) {
	benchEval(b, "classify-intent.output.intent === 'complex'")
}

func BenchmarkEnvTernary(b *testing.B) {
	benchEval(b, "env.ENVIRONMENT === 'production' ? 'anthropic' : 'workers-ai'")
}

func BenchmarkMethodCall(b *testing.B) {
	benchEval(b, "input.text.toLowerCase().includes('ell') && length(input.text) > 3")
}

func BenchmarkTemplateText(b *testing.B) {
	tp, err := ParseTemplate("Intent ${classify-intent.output.intent}, score ${quick-answer.scoring.score}", NewNames(flowMembers), len(flowMembers))
	if err != nil {
		b.Fatal(err)
	}
	v := benchVars()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tp.Eval(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	names := NewNames(flowMembers)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("classify-intent.output.intent === 'complex' && quick-answer.scoring.score < 0.7", names, len(flowMembers)); err != nil {
			b.Fatal(err)
		}
	}
}
