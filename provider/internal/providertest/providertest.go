// Package providertest holds the test helpers every wire format's tests
// share: a fake upstream that records requests and answers with fixtures
// from provider/testdata, golden request bodies (go test -update rewrites
// them), and readers of a whole answer or stream.
package providertest

import (
	"bytes"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	conductor "github.com/conductor-go/conductor"
)

// testdata is provider/testdata, wherever the test runs from.
var testdata = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata")
}()

var update = flag.Bool("update", false, "rewrite the golden request bodies in testdata")

// Exchange is what a Fake upstream saw of one request.
type Exchange struct {
	Method     string
	RequestURI string
	Path       string
	Header     http.Header
	Body       []byte
}

// Reply is what a Fake upstream answers.
type Reply struct {
	Status int
	Header map[string]string
	File   string // testdata file with the body
	Body   string // or the body itself
	// Stream sends the body line by line with flushes, the way providers
	// stream; Cut ends the answer by closing the connection mid-body.
	Stream bool
	Cut    bool
}

// Fake is an httptest upstream that records every request and answers with
// a fixture.
type Fake struct {
	*httptest.Server
	mu   sync.Mutex
	Seen []Exchange
}

// NewFake starts a fake upstream answering every request with r; the
// test closes it.
func NewFake(t *testing.T, r Reply) *Fake {
	t.Helper()
	body := []byte(r.Body)
	if r.File != "" {
		body = ReadTestdata(t, r.File)
	}
	f := &Fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		f.mu.Lock()
		f.Seen = append(f.Seen, Exchange{req.Method, req.RequestURI, req.URL.Path, req.Header.Clone(), b})
		f.mu.Unlock()
		for k, v := range r.Header {
			w.Header().Set(k, v)
		}
		status := r.Status
		if status == 0 {
			status = http.StatusOK
		}
		if r.Cut {
			cutAfter(w, status, body)
			return
		}
		w.WriteHeader(status)
		if !r.Stream {
			_, _ = w.Write(body)
			return
		}
		for line := range bytes.SplitAfterSeq(body, []byte("\n")) {
			_, _ = w.Write(line)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// cutAfter writes the headers and body, then drops the connection without
// ending the chunked body: the client sees a broken stream, not an end.
func cutAfter(w http.ResponseWriter, status int, body []byte) {
	w.WriteHeader(status)
	_, _ = w.Write(body)
	w.(http.Flusher).Flush()
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err) // a test server bug, not an input
	}
	_ = buf.Flush()
	_ = conn.Close()
}

// Last is the last request the Fake saw; it fails the test if none.
func (f *Fake) Last(t *testing.T) Exchange {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.Seen) == 0 {
		t.Fatal("the Fake upstream saw no request")
	}
	return f.Seen[len(f.Seen)-1]
}

// ReadTestdata reads provider/testdata/name.
func ReadTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CheckGolden compares got with testdata/name, or rewrites it with -update.
func CheckGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(bytes.TrimSuffix(want, []byte("\n")), got) {
		t.Errorf("body sent differs from %s\n got: %s\nwant: %s", path, got, want)
	}
}

// WantHeaders checks the headers a Fake saw, exactly for each listed name;
// "" means the header must be absent.
func WantHeaders(t *testing.T, got http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if v == "" {
			if vs, ok := got[http.CanonicalHeaderKey(k)]; ok {
				t.Errorf("header %s = %q, want none", k, vs)
			}
			continue
		}
		if vs := got.Values(k); len(vs) != 1 || vs[0] != v {
			t.Errorf("header %s = %q, want %q", k, vs, v)
		}
	}
}

// Ptr returns a pointer to a copy of v.
func Ptr[T any](v T) *T { return &v }

// Count is the number of requests the Fake saw.
func (f *Fake) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Seen)
}

// CheckResponse compares an answer's id, model, text, finish reason,
// request id and usage with want.
func CheckResponse(t *testing.T, got, want *conductor.ChatResponse) {
	t.Helper()
	if got.ID != want.ID || got.Model != want.Model || got.Text() != want.Text() ||
		got.FinishReason != want.FinishReason || got.RequestID != want.RequestID || got.Usage != want.Usage {
		t.Errorf("answer\n got: id=%q model=%q content=%q finish=%q rid=%q usage=%+v\nwant: id=%q model=%q content=%q finish=%q rid=%q usage=%+v",
			got.ID, got.Model, got.Text(), got.FinishReason, got.RequestID, got.Usage,
			want.ID, want.Model, want.Text(), want.FinishReason, want.RequestID, want.Usage)
	}
}

// Streamed is what a whole stream yielded.
type Streamed struct {
	Text    string
	Finish  string
	Usage   *conductor.Usage
	Chunks  int
	Raw     []string
	LastErr error
}

// Drain reads s to its end; it fails the test unless the stream ends with
// io.EOF.
func Drain(t *testing.T, s conductor.Stream) Streamed {
	t.Helper()
	got := Collect(s)
	if got.LastErr != io.EOF {
		t.Fatalf("stream ended with %v, want io.EOF", got.LastErr)
	}
	return got
}

// Collect reads s to its end or its first error, which it keeps.
func Collect(s conductor.Stream) Streamed {
	defer s.Close()
	var got Streamed
	var b strings.Builder
	for i := 0; i < 10000; i++ {
		ch, err := s.Next()
		if err != nil {
			got.LastErr = err
			break
		}
		got.Chunks++
		b.WriteString(ch.Delta)
		if ch.FinishReason != "" {
			got.Finish = ch.FinishReason
		}
		if ch.Usage != nil {
			got.Usage = ch.Usage
		}
		if ch.Raw != nil {
			got.Raw = append(got.Raw, string(ch.Raw))
		}
	}
	got.Text = b.String()
	return got
}

// CheckClass checks that err is a *conductor.Error of class, retryable
// or not, naming provider, and returns it.
func CheckClass(t *testing.T, err error, provider string, class conductor.ErrorClass, retryable bool) *conductor.Error {
	t.Helper()
	e, ok := conductor.AsError(err)
	if !ok {
		t.Fatalf("err = %v (%T), want *conductor.Error", err, err)
	}
	if e.Class != class || e.Retryable != retryable || e.Provider != provider {
		t.Fatalf("err = %q: class %s retryable %v provider %q, want %s %v %q", e, e.Class, e.Retryable, e.Provider, class, retryable, provider)
	}
	return e
}
