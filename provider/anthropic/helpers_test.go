package anthropic_test

import "github.com/conductor-go/conductor/provider/internal/providertest"

// The shared test helpers (package providertest) under the names these
// tests use.
type (
	reply    = providertest.Reply
	streamed = providertest.Streamed
)

var (
	newFake       = providertest.NewFake
	readTestdata  = providertest.ReadTestdata
	checkGolden   = providertest.CheckGolden
	wantHeaders   = providertest.WantHeaders
	checkResponse = providertest.CheckResponse
	drain         = providertest.Drain
	collect       = providertest.Collect
	checkClass    = providertest.CheckClass
)

func ptr[T any](v T) *T { return &v }
