package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// control is the store's ControlStore (itself, or the part a store made
// of parts names with Control), or a skip: a store that keeps no control
// items serves without keys or run-time changes.
func control(t *testing.T, st conductor.Store) conductor.ControlStore {
	t.Helper()
	cs, ok := st.(conductor.ControlStore)
	if p, isParts := st.(interface {
		Control() (conductor.ControlStore, bool)
	}); !ok && isParts {
		cs, ok = p.Control()
	}
	if !ok {
		t.Skip("the store keeps no control items (conductor.ControlStore)")
	}
	return cs
}

func runControl(t *testing.T, open Opener, c *config) {
	ctx := context.Background()
	t.Run("PutGetDelete", func(t *testing.T) {
		cs := control(t, open(t))
		v0, err := cs.ControlVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		a := conductor.Audit{Time: base, Who: "cli:test", Action: "create", Kind: "key", Name: "ci", After: []byte(`{"name":"ci"}`)}
		rev, err := cs.PutControl(ctx, conductor.ControlItem{Kind: "key", Name: "ci", Body: []byte(`{"name":"ci","rpm":10}`)}, 0, a)
		if err != nil || rev != 1 {
			t.Fatalf("create: rev %d, %v", rev, err)
		}
		if _, err := cs.PutControl(ctx, conductor.ControlItem{Kind: "key", Name: "ci", Body: []byte(`{}`)}, 0, a); !errors.Is(err, conductor.ErrConflict) {
			t.Fatalf("create again: %v, want ErrConflict", err)
		}
		if _, err := cs.PutControl(ctx, conductor.ControlItem{Kind: "team", Name: "ops", Body: []byte(`{"name":"ops"}`)}, conductor.AnyRev, a); err != nil {
			t.Fatal(err)
		}
		v1, _ := cs.ControlVersion(ctx)
		if v1 == v0 {
			t.Fatal("the version did not move")
		}
		items, err := cs.ControlItems(ctx, "key")
		if err != nil || len(items) != 1 || items[0].Name != "ci" || string(items[0].Body) != `{"name":"ci","rpm":10}` || items[0].Rev != 1 {
			t.Fatalf("items %+v, %v", items, err)
		}
		all, _ := cs.ControlItems(ctx, "")
		if len(all) != 2 || all[0].Kind != "key" || all[1].Kind != "team" {
			t.Fatalf("all items %+v", all)
		}
		// An update names the revision it replaces.
		if _, err := cs.PutControl(ctx, conductor.ControlItem{Kind: "key", Name: "ci", Body: []byte(`{"rpm":20}`)}, 7, a); !errors.Is(err, conductor.ErrConflict) {
			t.Fatalf("stale update: %v", err)
		}
		if rev, err := cs.PutControl(ctx, conductor.ControlItem{Kind: "key", Name: "ci", Body: []byte(`{"rpm":20}`)}, 1, a); err != nil || rev != 2 {
			t.Fatalf("update: %d %v", rev, err)
		}
		if err := cs.DeleteControl(ctx, "key", "ci", 1, a); !errors.Is(err, conductor.ErrConflict) {
			t.Fatalf("stale delete: %v", err)
		}
		if err := cs.DeleteControl(ctx, "key", "ci", conductor.AnyRev, a); err != nil {
			t.Fatal(err)
		}
		if err := cs.DeleteControl(ctx, "key", "ci", conductor.AnyRev, a); !errors.Is(err, conductor.ErrNotFound) {
			t.Fatalf("delete again: %v", err)
		}
		if items, _ := cs.ControlItems(ctx, "key"); len(items) != 0 {
			t.Fatalf("after delete %+v", items)
		}
		// Created again, it starts over at revision 1.
		if rev, err := cs.PutControl(ctx, conductor.ControlItem{Kind: "key", Name: "ci", Body: []byte(`{}`)}, 0, a); err != nil || rev != 1 {
			t.Fatalf("re-create: %d %v", rev, err)
		}
	})
	t.Run("Audit", func(t *testing.T) {
		cs := control(t, open(t))
		for i, action := range []string{"create", "update", "delete"} {
			a := conductor.Audit{Time: base.Add(time.Duration(i) * time.Second), Who: "admin", Action: action, Kind: "budget", Name: "prod",
				Before: []byte(fmt.Sprintf(`{"v":%d}`, i)), After: []byte(fmt.Sprintf(`{"v":%d}`, i+1))}
			var err error
			switch action {
			case "delete":
				err = cs.DeleteControl(ctx, "budget", "prod", conductor.AnyRev, a)
			default:
				_, err = cs.PutControl(ctx, conductor.ControlItem{Kind: "budget", Name: "prod", Body: a.After}, conductor.AnyRev, a)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		// A refused change writes no audit row.
		_, _ = cs.PutControl(ctx, conductor.ControlItem{Kind: "budget", Name: "x", Body: []byte(`{}`)}, 5, conductor.Audit{Who: "nobody", Action: "update", Kind: "budget", Name: "x"})
		rows, err := cs.AuditLog(ctx, 10)
		if err != nil || len(rows) != 3 {
			t.Fatalf("audit %+v, %v", rows, err)
		}
		if rows[0].Action != "delete" || rows[2].Action != "create" || !rows[2].Time.Equal(base) || rows[0].Who != "admin" ||
			string(rows[1].Before) != `{"v":1}` || string(rows[1].After) != `{"v":2}` || rows[0].Kind != "budget" || rows[0].Name != "prod" {
			t.Fatalf("audit rows %+v", rows)
		}
		if rows, _ := cs.AuditLog(ctx, 1); len(rows) != 1 || rows[0].Action != "delete" {
			t.Fatalf("limit 1: %+v", rows)
		}
	})
	t.Run("KeysUsed", func(t *testing.T) {
		cs := control(t, open(t))
		if err := cs.TouchKeys(ctx, map[string]time.Time{"a": base, "b": base.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		// An earlier use does not move a later one back.
		if err := cs.TouchKeys(ctx, map[string]time.Time{"a": base.Add(time.Hour), "b": base}); err != nil {
			t.Fatal(err)
		}
		used, err := cs.KeysUsed(ctx)
		if err != nil || !used["a"].Equal(base.Add(time.Hour)) || !used["b"].Equal(base.Add(time.Minute)) || len(used) != 2 {
			t.Fatalf("used %v, %v", used, err)
		}
	})
	t.Run("ConcurrentCreate", func(t *testing.T) {
		// Of many processes creating one item, exactly one succeeds.
		st := open(t)
		var a, b conductor.ControlStore = control(t, st), nil
		if c.shared != nil {
			x, y := c.shared(t)
			a, b = control(t, x), control(t, y)
		} else {
			b = a
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range 16 {
			cs := a
			if i%2 == 1 {
				cs = b
			}
			wg.Go(func() {
				_, err := cs.PutControl(ctx, conductor.ControlItem{Kind: "key", Name: "k", Body: []byte(`{}`)}, 0, conductor.Audit{Who: "t", Action: "create", Kind: "key", Name: "k"})
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if !errors.Is(err, conductor.ErrConflict) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d creations succeeded, want 1", won)
		}
		if v, _ := b.ControlVersion(ctx); v == 0 {
			t.Fatal("the other process sees no change")
		}
	})
}
