// Package wire holds what the codecs of every wire format share: the one
// JSON library (jsonlib.go), the JSON writers (json.go), the one-pass
// request scanner (jsonscan.go), the block, request and answer helpers and
// the token estimate. It knows no wire format's HTTP side and imports
// nothing of package provider, so that provider and the format code both
// build on it.
package wire
