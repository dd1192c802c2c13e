package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/conductor-go/conductor/ensemble"
)

func TestSchemaCommand(t *testing.T) {
	cmd := newSchemaCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want, err := ensemble.Schema()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Error("schema command prints something else than ensemble.Schema")
	}
	if !json.Valid(out.Bytes()) {
		t.Error("not JSON")
	}
	cmd = newSchemaCmd()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"extra"})
	if err := cmd.Execute(); err == nil {
		t.Error("schema accepted an argument")
	}
}
