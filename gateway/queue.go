package gateway

import (
	"context"
	"sync"
	"time"
)

// jobTimeout bounds one background job (a store write, a webhook POST is
// bounded by its own shorter timeout): a stuck store must not stall Close
// forever.
const jobTimeout = 30 * time.Second

// queue runs jobs off the request path, one at a time, in order. It is
// bounded: callers decide what a full queue means for their job (drop a
// cache write, run a spend settlement inline).
type queue struct {
	mu     sync.RWMutex // guards closed against a send on a closed channel
	closed bool
	ch     chan func(context.Context)
	done   chan struct{} // closed when run has drained the queue
}

func newQueue(size int) *queue {
	return &queue{ch: make(chan func(context.Context), size), done: make(chan struct{})}
}

// tryPut queues job unless the queue is full or closed.
func (q *queue) tryPut(job func(context.Context)) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false
	}
	select {
	case q.ch <- job:
		return true
	default:
		return false
	}
}

// do queues job, or runs it now when the queue is full or closed: for work
// that must happen (settling a reservation), late is better than never.
func (q *queue) do(job func(context.Context)) {
	if !q.tryPut(job) {
		runJob(job)
	}
}

func runJob(job func(context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	job(ctx)
}

// run serves the queue until it is closed and drained.
func (q *queue) run() {
	defer close(q.done)
	for job := range q.ch {
		runJob(job)
	}
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}
