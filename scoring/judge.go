package scoring

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	conductor "github.com/conductor-go/conductor"
)

// judgeRubric is the judge's system prompt. It asks for JSON only, but
// ParseJudge also reads a bare number, because small models often answer
// "Score: 0.8" whatever they are told.
const judgeRubric = `You are a strict, fair evaluator. Grade the ANSWER to the TASK against every CRITERION.
Reply with only a JSON object, no other text:
{"score": <a number from 0 to 1>, "reason": "<one short sentence>"}
1 means every criterion is fully met; 0 means none is; use values in between for partial quality.`

// defaultCriterion stands in when a member's scoring names no criteria.
const defaultCriterion = "The answer is correct, relevant to the task, and complete."

// JudgeMessages builds a judge call's messages: the rubric, then the
// criteria, the task the member was given and its answer.
func JudgeMessages(criteria []string, task, answer string) []conductor.Message {
	var b strings.Builder
	b.WriteString("CRITERIA:\n")
	if len(criteria) == 0 {
		criteria = []string{defaultCriterion}
	}
	for _, c := range criteria {
		b.WriteString("- ")
		b.WriteString(c)
		b.WriteByte('\n')
	}
	b.WriteString("\nTASK:\n")
	b.WriteString(task)
	b.WriteString("\n\nANSWER:\n")
	b.WriteString(answer)
	return []conductor.Message{
		conductor.TextMessage("system", judgeRubric),
		conductor.TextMessage("user", b.String()),
	}
}

// numberRe finds a number, with an optional "/10", "/100" or "%" after it.
var numberRe = regexp.MustCompile(`(-?\d+(?:\.\d+)?|-?\.\d+)\s*(%|/\s*10{1,2}\b)?`)

// ParseJudge reads a judge's answer: a JSON object with "score" (and
// "reason"), possibly fenced or surrounded by prose; failing that, a bare
// number in the text — the first after the word "score" when there is one —
// written as 0..1, "8/10", "85/100" or "85%".
func ParseJudge(text string) (Verdict, error) {
	t := StripFence(text)
	if v, ok := scoreObject(t); ok {
		return v.verdict()
	}
	// An object inside prose: try from each '{'.
	for i := strings.IndexByte(t, '{'); i >= 0; {
		if v, ok := scoreObject(t[i:]); ok {
			return v.verdict()
		}
		next := strings.IndexByte(t[i+1:], '{')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	search := t
	if k := indexScore(t); k >= 0 {
		search = t[k+len("score"):]
	}
	m := numberRe.FindStringSubmatch(search)
	if m == nil && len(search) != len(t) {
		m = numberRe.FindStringSubmatch(t)
	}
	if m == nil {
		return Verdict{}, fmt.Errorf("%w in the judge's answer %q", ErrNoScore, clip(text))
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return Verdict{}, fmt.Errorf("%w in the judge's answer %q", ErrNoScore, clip(text))
	}
	switch suffix := strings.ReplaceAll(m[2], " ", ""); suffix {
	case "%", "/100":
		f /= 100
	case "/10":
		f /= 10
	}
	s, err := Normalize(f)
	if err != nil {
		return Verdict{}, fmt.Errorf("judge's answer %q: %w", clip(text), err)
	}
	return Verdict{Score: s, Reason: strings.TrimSpace(text)}, nil
}

type judgeObject struct {
	Score  json.RawMessage `json:"score"`
	Reason string          `json:"reason"`
}

// scoreObject decodes the first JSON value of s as an object with a score.
func scoreObject(s string) (judgeObject, bool) {
	if !strings.HasPrefix(s, "{") {
		return judgeObject{}, false
	}
	var o judgeObject
	if err := json.NewDecoder(strings.NewReader(s)).Decode(&o); err != nil || len(o.Score) == 0 {
		return judgeObject{}, false
	}
	return o, true
}

func (o judgeObject) verdict() (Verdict, error) {
	raw := strings.TrimSpace(string(o.Score))
	// A score sent as a string ("0.8") is read as its number.
	if uq, err := strconv.Unquote(raw); err == nil {
		raw = strings.TrimSpace(uq)
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		// A scale written out in the string ("8/10", "85%").
		if v, perr := ParseJudge(raw); perr == nil && !strings.HasPrefix(raw, "{") {
			return Verdict{Score: v.Score, Reason: o.Reason}, nil
		}
		return Verdict{}, fmt.Errorf("%w: the judge's score %s is not a number", ErrNoScore, clip(string(o.Score)))
	}
	s, err := Normalize(f)
	if err != nil {
		return Verdict{}, err
	}
	return Verdict{Score: s, Reason: o.Reason}, nil
}

// indexScore finds "score" in any letter case. Byte-wise, since lowering
// the whole text could change its length and so the offsets.
func indexScore(s string) int {
	for i := 0; i+5 <= len(s); i++ {
		if strings.EqualFold(s[i:i+5], "score") {
			return i
		}
	}
	return -1
}

// clip shortens text for an error message.
func clip(s string) string {
	const limit = 120
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
