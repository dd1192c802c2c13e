package provider

import (
	"encoding/json"
	"fmt"
	"slices"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/internal/wire"
)

// What becomes of a caller's wire field (ChatRequest.Extra) when the
// request goes to an upstream of another wire format. Fields every format
// models (messages, tools, tool_choice, response_format, max tokens,
// sampling, stop, stream) are ChatRequest's own fields and never reach
// Extra; what is left is one format's own vocabulary.
type carry int

const (
	// carryRefuse: the target cannot hold the field; the request is a 400
	// naming it, never sent without it.
	carryRefuse carry = iota
	// carryKeep: the target takes the field as it is.
	carryKeep
	// carryMapped: the target's encoder writes the field in its own form
	// (OpenAI's user ⇄ Anthropic's metadata.user_id).
	carryMapped
	// carryDrop: the field frames the exchange with the caller, not the
	// answer (stream_options), and means nothing upstream.
	carryDrop
)

// portable is the table of fields that travel between formats; any pair
// it does not list is refused.
var portable = map[[2]string]map[string]carry{
	// safety_identifier is OpenAI's newer name for the end user that user
	// names: mapped and dropped alike.
	{FormatOpenAI, FormatAnthropic}: {
		"user": carryMapped, "safety_identifier": carryMapped, "stream_options": carryDrop,
	},
	{FormatOpenAI, FormatWorkersAI}: {
		"frequency_penalty": carryKeep, "presence_penalty": carryKeep, "repetition_penalty": carryKeep,
		"user": carryDrop, "safety_identifier": carryDrop, "stream_options": carryDrop,
	},
	{FormatAnthropic, FormatOpenAI}: {
		"metadata": carryMapped,
	},
	{FormatAnthropic, FormatWorkersAI}: {
		"top_k": carryKeep, "metadata": carryDrop,
	},
	{FormatWorkersAI, FormatOpenAI}: {
		"frequency_penalty": carryKeep, "presence_penalty": carryKeep,
	},
	{FormatWorkersAI, FormatAnthropic}: {
		"top_k": carryKeep,
	},
}

// Portable reports whether field, a wire field of format from, can be sent
// to an upstream speaking format to (kept, mapped, or meaningless there).
func Portable(field, from, to string) bool {
	return from == to || from == "" || portable[[2]string{from, to}][field] != carryRefuse
}

// ExtrasFor returns the fields of req.Extra to write as they are to an
// upstream of format to: all of them in the caller's own format, else the
// portable ones. A field the target cannot hold is a ClassBadRequest error
// naming it and the target, so that nothing the caller asked for is
// silently lost; mapped fields are left to the target's encoder (which
// reads req.Extra itself).
func ExtrasFor(req *conductor.ChatRequest, to, provider string) (map[string]json.RawMessage, error) {
	if len(req.Extra) == 0 || req.ExtraFormat == "" || req.ExtraFormat == to {
		return req.Extra, nil
	}
	rules := portable[[2]string{req.ExtraFormat, to}]
	var keep map[string]json.RawMessage
	var refused []string
	for k, v := range req.Extra {
		switch rules[k] {
		case carryKeep:
			if keep == nil {
				keep = make(map[string]json.RawMessage, len(req.Extra))
			}
			keep[k] = v
		case carryRefuse:
			refused = append(refused, k)
		}
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		if kw, ok := keptWhole[refused[0]]; ok {
			return nil, wire.Untranslatable(refused[0], fmt.Sprintf(kw.what, req.ExtraFormat), provider, kw.why)
		}
		return nil, Unsupported(refused[0], provider, to)
	}
	return keep, nil
}

// keptWhole are the fields a decoder reads into ChatRequest's own fields
// when it can model them, and keeps in Extra as sent when they hold what
// only their format has (custom or server tools, allowed_tools…): refused
// elsewhere, they say so rather than "no such field". what takes the
// caller's format.
var keptWhole = map[string]struct{ what, why string }{
	"tools":           {"a tools list with tools only %s has (OpenAI custom tools, Anthropic server tools)", "the gateway translates function tools only"},
	"tool_choice":     {"a tool choice of a form only %s has (allowed_tools, custom…)", "the gateway translates auto, none, required and one named function"},
	"response_format": {"a response format of a type only %s has", "the gateway translates text, json_object and json_schema"},
	"thinking":        {"a thinking setting of a form only %s has", "the gateway translates enabled with budget_tokens, adaptive and disabled"},
	"output_config":   {"an output_config with settings only %s has", "the gateway translates format and effort"},
	"output_format":   {"an output format of a type only %s has", "the gateway translates json_schema"},
}

// Unsupported is the error for a field the target cannot carry.
func Unsupported(field, provider, format string) *conductor.Error {
	e := wire.BadRequest("%s: not supported by %s (the %s API has no such field); remove it or choose a model of another provider", field, provider, format)
	e.Provider = provider
	e.Code = "unsupported_parameter"
	return e
}
