package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	conductor "github.com/conductor-go/conductor"
	"github.com/conductor-go/conductor/engine"
	"github.com/conductor-go/conductor/ensemble"
)

// ensembleName is the form of {name} in /v1/ensembles/{name}/run: a file
// name in the ensembles directory, never a path.
var ensembleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// keepAlive is how often a streamed run sends a comment while members run,
// so that proxies do not close an idle connection.
const keepAlive = 15 * time.Second

// runEnsemble is POST /v1/ensembles/{name}/run: it runs
// {EnsemblesDir}/{name}.yaml with the JSON body as input and answers the
// result as `conductor run --json` prints it. With Accept:
// text/event-stream it streams events instead: "start", one "member" per
// member with its result, and "result".
func (s *Server) runEnsemble(w http.ResponseWriter, r *http.Request, c *caller) {
	if c.vkey != nil {
		// An ensemble's members call the models their files name, held to
		// no key's limits: a key would escape them here.
		s.failEarly(w, r, fmtOpenAI, &conductor.Error{Class: conductor.ClassAuth, Status: http.StatusForbidden, Code: "key_not_allowed",
			Message: fmt.Sprintf("key %q may not run ensembles: they call models outside the key's limits; use a gateway token", c.vkey.Name)})
		return
	}
	ens, err := s.loadEnsemble(r.PathValue("name"))
	if err != nil {
		s.failEarly(w, r, fmtOpenAI, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.failEarly(w, r, fmtOpenAI, err)
		return
	}
	var input any
	if b := bytes.TrimSpace(body); len(b) > 0 {
		if err := json.Unmarshal(b, &input); err != nil {
			s.failEarly(w, r, fmtOpenAI, badRequest("the input is not JSON: %s", jsonProblem(err)))
			return
		}
	}
	if ri := requestInfoFrom(r.Context()); ri != nil {
		ri.model = "ensemble:" + ens.Name
	}
	if wantsEvents(r) {
		s.runEvents(w, r, ens, input)
		return
	}
	res, runErr := engine.New(s.opts.Engine).Run(r.Context(), ens, input)
	if res == nil {
		s.failEarly(w, r, fmtOpenAI, fmt.Errorf("ensemble %s: %w", ens.Name, runErr))
		return
	}
	if runErr != nil {
		s.log.Info("ensemble run failed", "ensemble", ens.Name, "err", runErr)
	}
	b, err := json.Marshal(res)
	if err != nil {
		s.failEarly(w, r, fmtOpenAI, fmt.Errorf("ensemble %s: encoding the result: %w", ens.Name, err))
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func wantsEvents(r *http.Request) bool {
	for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
		if strings.HasPrefix(strings.TrimSpace(a), "text/event-stream") {
			return true
		}
	}
	return false
}

// loadEnsemble finds and loads name in the ensembles directory.
func (s *Server) loadEnsemble(name string) (*ensemble.Ensemble, error) {
	notFound := &conductor.Error{Class: conductor.ClassNotFound, Status: http.StatusNotFound,
		Message: fmt.Sprintf("no ensemble %.130q in %s", name, s.opts.EnsemblesDir)}
	if !ensembleName.MatchString(name) {
		return nil, notFound
	}
	for _, ext := range []string{".yaml", ".yml"} {
		path := filepath.Join(s.opts.EnsemblesDir, name+ext)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		ens, err := ensemble.Load(path)
		if err != nil {
			// The file is the server's, not the caller's: a server error
			// that says what to fix.
			return nil, &conductor.Error{Class: conductor.ClassConfig, Message: "ensemble " + name + ": " + oneLine(err.Error()), Err: err}
		}
		return ens, nil
	}
	return nil, notFound
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// runEvents runs the ensemble and streams its progress as it happens:
// "start" (the members), "member_started" and "member_finished" (with the
// member's result, as `conductor run --json` shows it) for each member,
// then "result" (the whole result) or "error". Comments keep the
// connection alive while a member runs.
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request, ens *ensemble.Ensemble, input any) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := newSSE(w)
	members := make([]string, len(ens.Flow))
	for i, st := range ens.Flow {
		members[i] = st.Member
	}
	start, _ := json.Marshal(map[string]any{"ensemble": ens.Name, "members": members})
	out.event("start", start)
	if out.flush() != nil {
		return
	}
	ctx := r.Context()
	type progress struct {
		name string
		data []byte
	}
	// The engine reports on its own goroutine; this one writes.
	events := make(chan progress, 8)
	eo := s.opts.Engine
	eo.OnMember = func(i int, member string, res *engine.MemberResult) {
		ev := progress{name: "member_started"}
		if res == nil {
			ev.data, _ = json.Marshal(map[string]any{"index": i, "member": member})
		} else {
			ev.name = "member_finished"
			ev.data, _ = json.Marshal(struct {
				Index int `json:"index"`
				*engine.MemberResult
			}{i, res})
		}
		select {
		case events <- ev:
		case <-ctx.Done():
		}
	}
	type outcome struct {
		res *engine.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := engine.New(eo).Run(ctx, ens, input)
		done <- outcome{res, err}
	}()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	var o outcome
	for running := true; running; {
		select {
		case ev := <-events:
			out.event(ev.name, ev.data)
		case o = <-done:
			running = false
		case <-tick.C:
			out.buf = append(out.buf, ": running\n\n"...)
		}
		// A caller gone cancels the run through its context.
		_ = out.flush()
	}
	// Events sent before the run returned are all in the channel by now.
	for drained := false; !drained; {
		select {
		case ev := <-events:
			out.event(ev.name, ev.data)
		default:
			drained = true
		}
	}
	if o.res == nil {
		e := asError(ctx, fmt.Errorf("ensemble %s: %w", ens.Name, o.err))
		out.event("error", encodeErrorJSON(e))
		_ = out.flush()
		return
	}
	if b, err := json.Marshal(o.res); err == nil {
		out.event("result", b)
	}
	_ = out.flush()
}

// encodeErrorJSON is an error event's data: OpenAI's error shape.
func encodeErrorJSON(e *conductor.Error) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"error":{"message":`...)
	b = appendJSONString(b, e.Error())
	b = append(b, `,"type":`...)
	b = appendJSONString(b, string(e.Class))
	return append(b, "}}"...)
}
