package pricing

import "github.com/conductor-go/conductor/config"

// FromConfig is the embedded price table with cfg's [pricing] overrides.
func FromConfig(p config.Pricing) (*Table, error) {
	t := Default()
	if p.DefaultInput != nil || p.DefaultOutput != nil {
		in, out := DefaultUnknownInput, DefaultUnknownOutput
		if p.DefaultInput != nil {
			in = *p.DefaultInput
		}
		if p.DefaultOutput != nil {
			out = *p.DefaultOutput
		}
		if err := t.WithDefault(in, out); err != nil {
			return nil, err
		}
	}
	for _, m := range p.Models {
		price := Price{Provider: m.Provider, Model: m.Model, Input: m.Input, Output: m.Output}
		if m.CachedInput != nil {
			price.CachedInput = *m.CachedInput
		}
		if err := t.Override(price); err != nil {
			return nil, err
		}
	}
	return t, nil
}
