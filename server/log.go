package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// requestInfo is what the access log line says about a request beyond
// its method, path and status: filled in by the handlers as they learn it.
// Never a header value, never a body: those may hold secrets.
type requestInfo struct {
	provider   string
	model      string
	gateway    string
	user       string
	stream     bool
	errorClass string
}

type infoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(infoKey{}).(*requestInfo)
	return ri
}

// noteCall records where a call goes.
func noteCall(r *http.Request, x *exchange) {
	ri := requestInfoFrom(r.Context())
	if ri == nil {
		return
	}
	ri.provider, ri.model, ri.stream = x.req.Provider, x.req.Model, x.req.Stream
	if ri.model == "" {
		ri.model = x.requested
	}
	ri.gateway, ri.user = x.gateway, x.req.Options.User
}

// noteError records the class of a failure.
func noteError(r *http.Request, e *conductor.Error) {
	if ri := requestInfoFrom(r.Context()); ri != nil {
		ri.errorClass = string(e.Class)
	}
}

// statusWriter remembers the status and size of an answer. Unwrap lets
// http.ResponseController reach the real writer's Flush.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one structured line per request: what was asked, of
// whom, with what outcome, how long it took.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), infoKey{}, ri)))
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			return // probes would drown the log
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelInfo
		if status >= 500 && status != 499 {
			level = slog.LevelWarn
		}
		attrs := make([]slog.Attr, 0, 13)
		attrs = append(attrs,
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Int64("bytes", sw.bytes),
			slog.Float64("ms", float64(time.Since(start).Microseconds())/1000),
		)
		if ri.provider != "" {
			attrs = append(attrs, slog.String("provider", ri.provider), slog.String("model", ri.model), slog.Bool("stream", ri.stream))
		}
		if ri.gateway != "" {
			attrs = append(attrs, slog.String("gateway", ri.gateway))
		}
		if ri.user != "" {
			attrs = append(attrs, slog.String("user", ri.user))
		}
		if c := w.Header().Get(hdrCacheStatus); c != "" {
			attrs = append(attrs, slog.String("cache", c))
		}
		if id := w.Header().Get(hdrLogID); id != "" {
			attrs = append(attrs, slog.String("log_id", id)) // the gateway log row's id
		}
		if ri.errorClass != "" {
			attrs = append(attrs, slog.String("error", ri.errorClass))
		}
		s.log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}
