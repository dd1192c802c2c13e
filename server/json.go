package server

import (
	"github.com/conductor-go/conductor/provider"
)

// appendJSONString appends s as a JSON string (the wire adapters' encoder).
func appendJSONString(dst []byte, s string) []byte { return provider.AppendJSONString(dst, s) }

// rewriteModel returns body with the value of every top-level "model" key
// replaced by model, every other byte as it was: the caller's request passes
// through without being re-encoded. body must be valid JSON (the request
// decoder has checked it). Without a top-level "model" key body is
// returned unchanged.
func rewriteModel(body []byte, model string) ([]byte, error) {
	return provider.ReplaceMember(body, "model", appendJSONString(nil, model))
}

// addField returns body, a JSON object without key, with "key":value
// added last; every other byte is kept. value must be valid JSON.
func addField(body []byte, key string, value []byte) ([]byte, error) {
	return provider.AddMember(body, key, value)
}

// topLevelValues returns the [start, end) byte spans of the values of key in
// the JSON object body, scanning without decoding.
func topLevelValues(body []byte, key string) ([][2]int, error) {
	return provider.TopLevelValues(body, key)
}
