package provider_test

import (
	"bytes"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden request bodies in testdata")

// exchange is what a fake upstream saw of one request.
type exchange struct {
	Method     string
	RequestURI string
	Path       string
	Header     http.Header
	Body       []byte
}

// reply is what a fake upstream answers.
type reply struct {
	Status int
	Header map[string]string
	File   string // testdata file with the body
	Body   string // or the body itself
	// Stream sends the body line by line with flushes, the way providers
	// stream; Cut ends the answer by closing the connection mid-body.
	Stream bool
	Cut    bool
}

// fake is an httptest upstream that records every request and answers with
// a fixture.
type fake struct {
	*httptest.Server
	mu   sync.Mutex
	seen []exchange
}

func newFake(t *testing.T, r reply) *fake {
	t.Helper()
	body := []byte(r.Body)
	if r.File != "" {
		body = readTestdata(t, r.File)
	}
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		f.mu.Lock()
		f.seen = append(f.seen, exchange{req.Method, req.RequestURI, req.URL.Path, req.Header.Clone(), b})
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

func (f *fake) last(t *testing.T) exchange {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		t.Fatal("the fake upstream saw no request")
	}
	return f.seen[len(f.seen)-1]
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
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

// wantHeaders checks the headers a fake saw, exactly for each listed name;
// "" means the header must be absent.
func wantHeaders(t *testing.T, got http.Header, want map[string]string) {
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

func ptr[T any](v T) *T { return &v }

// count is the number of requests the fake saw.
func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}
