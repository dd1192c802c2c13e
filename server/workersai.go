package server

import (
	"encoding/json"
	"net/http"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/provider/workersai"
)

// Workers AI's native wire format, as callers speak it on the Cloudflare
// path /v1/{account}/{gateway}/workers-ai/{model}: {"prompt"} or
// {"messages"} in, the Cloudflare API envelope out, streams of
// {"response"} chunks ending with [DONE].

// decodeWorkersAIRequest reads a native Workers AI run body for model
// (workersai.DecodeRequest says what it reads).
func decodeWorkersAIRequest(body []byte, model string) (*conductor.ChatRequest, error) {
	req, err := workersai.DecodeRequest(body)
	if err != nil {
		if e, ok := conductor.AsError(err); ok && e.Class == conductor.ClassBadRequest && e.Status == 0 {
			e.Status = http.StatusBadRequest
		}
		return nil, err
	}
	req.Provider, req.Model = conductor.ProviderWorkersAI, model
	return req, nil
}

// encodeWorkersAIAnswer writes an answer in the Cloudflare API envelope.
func encodeWorkersAIAnswer(resp *conductor.ChatResponse) ([]byte, error) {
	return workersai.EncodeResponse(resp)
}

func jsonProblem(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return "expected a value of another type, got " + te.Value
	}
	return err.Error()
}
