package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	conductor "github.com/conductor-go/conductor"
)

// What the request encoders and decoders of every wire format share: images
// and data: URLs, tool-call ids and arguments, the fate of another format's
// opaque blocks, and the reasoning policy between OpenAI's effort words and
// Anthropic's thinking budget.

// untranslatable is the error for a part of a request that the target
// has no place for: field names it in the caller's terms
// (messages[1].content[0]), what says what it is, why why not.
func Untranslatable(field, what, provider, why string) *conductor.Error {
	e := BadRequest("%s: %s cannot be sent to %s (%s); remove it or choose a model of another provider", field, what, provider, why)
	e.Provider = provider
	e.Code = "unsupported_parameter"
	return e
}

// noPlace is the usual why of untranslatable.
func noPlace(format string) string { return "the " + format + " API has no place for it" }

// article is "a" or "an" for word.
func Article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

// invalidField is the error for a value the target cannot take as it is.
func InvalidField(field, problem, provider string) *conductor.Error {
	e := BadRequest("%s: %s", field, problem)
	e.Provider = provider
	e.Code = "invalid_request"
	return e
}

// opaqueFor decides what becomes of an opaque block on its way to format:
// written back as received when it is that format's own (keep), dropped when
// it is reasoning the target cannot hold (thinking, redacted_thinking: the
// target has no slot for them, and the tokens they cost stay in the usage),
// refused otherwise — a document, a file or an audio part carries input the
// model would otherwise miss.
func OpaqueFor(o *conductor.Opaque, format, provider string, at BlockPath) (keep bool, err error) {
	if o.Format == format {
		return true, nil
	}
	switch o.Kind {
	case "thinking", "redacted_thinking", "reasoning":
		return false, nil
	}
	// "message:audio" is an assistant's audio, "tool_call:custom" a custom
	// tool call: named by what follows the colon.
	kind := o.Kind[strings.IndexByte(o.Kind, ':')+1:]
	return false, Untranslatable(at.String(), Article(kind)+" "+kind+" block", provider, noPlace(format))
}

// blockPath names a block of a request in an error, the way the caller's
// body does: messages[i].content[j], .content[k] inside a tool result, or
// messages[n].tool_calls[call] for a tool call (n its position in an
// OpenAI body, msgs given). Built only when an error needs it.
type BlockPath struct {
	Msgs    []conductor.Message
	I, J, K int
	Call    int
}

func (p BlockPath) String() string {
	if p.Call >= 0 && p.Msgs != nil {
		return fmt.Sprintf("messages[%d].tool_calls[%d]", openAIIndex(p.Msgs, p.I), p.Call)
	}
	s := fmt.Sprintf("messages[%d].content[%d]", p.I, p.J)
	if p.K >= 0 {
		s += fmt.Sprintf(".content[%d]", p.K)
	}
	return s
}

// parseDataURL splits data:<mime>[;params][;base64],<payload> into the media
// type (lower case) and the payload as base64; a percent-encoded payload is
// decoded and encoded again. ok is false for anything else.
func ParseDataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		// The scheme is case-insensitive.
		if len(u) < 5 || !strings.EqualFold(u[:5], "data:") {
			return "", "", false
		}
		rest = u[5:]
	}
	meta, payload, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	params := strings.Split(meta, ";")
	mediaType = strings.ToLower(strings.TrimSpace(params[0]))
	isBase64 := false
	for _, p := range params[1:] {
		if strings.EqualFold(strings.TrimSpace(p), "base64") {
			isBase64 = true
		}
	}
	if mediaType == "" || !strings.Contains(mediaType, "/") {
		return "", "", false
	}
	if isBase64 {
		// Base64 carries no white space; some clients wrap it anyway.
		if strings.ContainsAny(payload, " \t\r\n") {
			payload = strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, payload)
		}
		return mediaType, payload, payload != ""
	}
	raw, err := url.PathUnescape(payload)
	if err != nil || raw == "" {
		return "", "", false
	}
	return mediaType, base64.StdEncoding.EncodeToString([]byte(raw)), true
}

// imageFromURL is the Image of an OpenAI-style image_url: a data: URL is
// parsed into its media type and base64 data; any other URL (or a data: URL
// that does not parse) is kept as the URL.
func ImageFromURL(u, detail string) *conductor.Image {
	if mt, data, ok := ParseDataURL(u); ok {
		return &conductor.Image{MediaType: mt, Data: data, Detail: detail}
	}
	return &conductor.Image{URL: u, Detail: detail}
}

// appendImageURL writes the URL an OpenAI-style image_url carries for img:
// its URL, or a data: URL of its data.
func AppendImageURL(dst []byte, img *conductor.Image) []byte {
	if img.Data == "" {
		return AppendString(dst, img.URL)
	}
	dst = append(dst, `"data:`...)
	dst = AppendStringBody(dst, img.MediaType)
	dst = append(dst, ";base64,"...)
	dst = AppendStringBody(dst, img.Data)
	return append(dst, '"')
}

// anthropicMediaType is the media type Anthropic accepts for an image
// (image/jpg is taken as image/jpeg), or false.
func AnthropicMediaType(mt string) (string, bool) {
	switch mt = strings.ToLower(mt); mt {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return mt, true
	case "image/jpg":
		return "image/jpeg", true
	}
	return "", false
}

// AnthropicToolID is the tool_use id Anthropic accepts for a tool-call id
// (it requires ^[a-zA-Z0-9_-]+$): the id itself when it matches, else the id
// with every other byte replaced by '_' and a hash of the original appended,
// so that distinct ids stay distinct. It is applied alike to tool_use.id and
// tool_result.tool_use_id, so a call and its answer keep matching.
func AnthropicToolID(id string) string {
	ok := id != ""
	for i := 0; ok && i < len(id); i++ {
		ok = IsToolIDByte(id[i])
	}
	if ok {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	b := make([]byte, 0, len(id)+17)
	for i := 0; i < len(id); i++ {
		if c := id[i]; IsToolIDByte(c) {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	b = append(b, '_')
	return string(hex.AppendEncode(b, sum[:8]))
}

func IsToolIDByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// toolInput is a tool call's arguments as the JSON object Anthropic wants
// for tool_use.input: "" (a call without arguments) is {}; anything that is
// not a JSON object is false — it is never forwarded as a string.
func ToolInput(args string) (json.RawMessage, bool) {
	t := bytes.TrimSpace([]byte(args))
	if len(t) == 0 {
		return json.RawMessage("{}"), true
	}
	if t[0] != '{' || !Valid(t) {
		return nil, false
	}
	return t, true
}

// compactJSON is v as compact JSON text ("" for nothing or null): the
// arguments of a tool call that arrived as an object.
func CompactJSON(v json.RawMessage) string {
	if IsNull(v) {
		return ""
	}
	var b bytes.Buffer
	b.Grow(len(v))
	if err := Compact(&b, v); err != nil {
		return string(v)
	}
	return b.String()
}

// jsonText is a value that should be a string, as text: the string itself,
// or the JSON of any other value (tool arguments some servers send as an
// object).
func JsonText(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	switch {
	case IsNull(v):
		return "", nil
	case v[0] == '"':
		return JsonString(v)
	}
	return CompactJSON(v), nil
}

// The reasoning policy. OpenAI asks for an effort word, Anthropic's older
// models for a thinking budget in tokens (at least 1024, below max_tokens,
// counted in it), its newer models for adaptive thinking with an effort
// word. A word becomes a share of the output limit — the limit counts
// reasoning and answer alike on both sides, so the share is what the word
// means:
//
//	none, minimal   no thinking
//	low             1/4 of max_tokens
//	medium          1/2
//	high            3/4
//	xhigh, max      7/8
//
// raised to 1024 when smaller; a limit too small for that is refused.
// Back from a budget: below 3/8 of max_tokens low, below 5/8 medium,
// else high (with no limit to compare to: below 4096 tokens low, below
// 16384 medium, else high). The two are inverse for low, medium and high.

const minThinkingBudget = 1024

// effortShare is the share of max_tokens (in eighths) a reasoning effort
// word spends on thinking; 0 for none and minimal.
func EffortShare(effort string) (eighths int, ok bool) {
	switch effort {
	case "none", "minimal":
		return 0, true
	case "low":
		return 2, true
	case "medium":
		return 4, true
	case "high":
		return 6, true
	case "xhigh", "max":
		return 7, true
	}
	return 0, false
}

// thinkingBudget is the budget_tokens for effort under an output limit of
// maxTokens; 0 for no thinking.
func ThinkingBudget(effort string, maxTokens int, provider string) (int, error) {
	share, ok := EffortShare(effort)
	if !ok {
		return 0, InvalidField("reasoning_effort", fmt.Sprintf("%q is not one of none, minimal, low, medium, high, xhigh, max", effort), provider)
	}
	if share == 0 {
		return 0, nil
	}
	budget := max(maxTokens*share/8, minThinkingBudget)
	if budget >= maxTokens {
		return 0, InvalidField("reasoning_effort", fmt.Sprintf("thinking on %s needs max_tokens above %d (its budget_tokens is at least %d and below max_tokens); raise the output limit or drop reasoning_effort",
			provider, minThinkingBudget, minThinkingBudget), provider)
	}
	return budget, nil
}

// budgetEffort is the effort word for a thinking budget under an output
// limit of maxTokens (0: unknown).
func BudgetEffort(budget, maxTokens int) string {
	if maxTokens > 0 {
		switch {
		case budget*8 < maxTokens*3:
			return "low"
		case budget*8 < maxTokens*5:
			return "medium"
		}
		return "high"
	}
	switch {
	case budget < 4096:
		return "low"
	case budget < 16384:
		return "medium"
	}
	return "high"
}

// reasoningEffort is the effort word req asks for: its own, or the one its
// thinking budget means; "" for neither.
func ReasoningEffort(req *conductor.ChatRequest) string {
	switch {
	case req.ReasoningEffort != "":
		return req.ReasoningEffort
	case req.ThinkingBudget > 0:
		return BudgetEffort(req.ThinkingBudget, req.MaxTokens)
	}
	return ""
}

// appendToolChoiceOpenAI writes tc in the OpenAI form: "auto", "none",
// "required" or {"type":"function","function":{"name":…}}.
func AppendToolChoiceOpenAI(dst []byte, tc *conductor.ToolChoice, provider string) ([]byte, error) {
	switch tc.Mode {
	case conductor.ToolChoiceAuto, conductor.ToolChoiceNone, conductor.ToolChoiceRequired:
		return AppendString(dst, tc.Mode), nil
	case conductor.ToolChoiceTool:
		dst = append(dst, `{"type":"function","function":{"name":`...)
		dst = AppendString(dst, tc.Name)
		return append(dst, "}}"...), nil
	}
	return nil, InvalidField("tool_choice", fmt.Sprintf("unknown mode %q (auto, none, required or tool)", tc.Mode), provider)
}

// appendToolsOpenAI writes tools in the OpenAI form
// [{"type":"function","function":{name, description, parameters, strict}}];
// a function without parameters is written without them (OpenAI's own
// reading of "no parameters"), or with the empty object schema when
// emptyParams is set.
func AppendToolsOpenAI(dst []byte, tools []conductor.Tool, emptyParams bool) ([]byte, error) {
	dst = append(dst, '[')
	for i, t := range tools {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":"function","function":{"name":`...)
		dst = AppendString(dst, t.Name)
		if t.Description != "" {
			dst = append(dst, `,"description":`...)
			dst = AppendString(dst, t.Description)
		}
		switch {
		case !IsNull(t.Parameters):
			if !Valid(t.Parameters) {
				return nil, BadRequest("tools[%d].function.parameters is not valid JSON", i)
			}
			dst = append(dst, `,"parameters":`...)
			dst = append(dst, t.Parameters...)
		case emptyParams:
			dst = append(dst, `,"parameters":`...)
			dst = append(dst, EmptyObjectSchema...)
		}
		if t.Strict != nil {
			dst = append(dst, `,"strict":`...)
			dst = AppendBool(dst, *t.Strict)
		}
		dst = append(dst, "}}"...)
	}
	return append(dst, ']'), nil
}

// emptyObjectSchema is the schema of a function without parameters, where
// a format requires one.
const EmptyObjectSchema = `{"type":"object","properties":{}}`

func AppendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// jsonString reads a JSON string ("" for nothing or null); one without
// escapes is its bytes, without a decode.
func JsonString(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	switch {
	case IsNull(v):
		return "", nil
	case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
		// The decoder that gave us v validated it as JSON; unquote leaves
		// what encoding/json would mend (invalid UTF-8, surrogates) to it.
		if s, ok := unquote(v[1:len(v)-1], bytes.IndexByte(v, '\\') >= 0); ok {
			return s, nil
		}
	}
	var s string
	err := Unmarshal(v, &s)
	return s, err
}

func IsNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// isJSONNull reports a value that is absent or null.
func IsJSONNull(v []byte) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// openAIIndex is the position message i of msgs has in an OpenAI body
// (where a user message's tool results are one tool message each), so that
// an error names the message an OpenAI caller sent.
func openAIIndex(msgs []conductor.Message, i int) int {
	k := 0
	for _, m := range msgs[:i] {
		results, rest := 0, 0
		for _, b := range m.Content {
			if b.Type == conductor.BlockToolResult {
				results++
			} else {
				rest++
			}
		}
		switch {
		case results == 0:
			k++
		case rest > 0:
			k += results + 1
		default:
			k += results
		}
	}
	return k
}

// AnthropicDefaultMaxTokens is sent when the request sets no limit: the API
// requires max_tokens, and 4096 is what every current Claude model accepts.
const AnthropicDefaultMaxTokens = 4096
