package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	conductor "github.com/conductor-go/conductor"
)

// Admin makes the changes of `conductor keys` and the admin API: each
// one a compare-and-set of one item with its audit row (who, what, when,
// before and after; a key's digests never in it).
type Admin struct {
	Store conductor.ControlStore
	// Now is the clock of creation, revocation and audit times; nil:
	// time.Now.
	Now func() time.Time
}

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// ErrExists is returned when creating an item whose name is taken.
var ErrExists = errors.New("already exists")

// Keys returns every key, by name.
func (a *Admin) Keys(ctx context.Context) ([]Key, error) {
	items, err := a.Store.ControlItems(ctx, KindKey)
	if err != nil {
		return nil, err
	}
	out := make([]Key, 0, len(items))
	for _, it := range items {
		var k Key
		if err := json.Unmarshal(it.Body, &k); err != nil {
			return nil, fmt.Errorf("key %q: %w", it.Name, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// CreateKey stores k with a new secret and returns the secret: the only
// time it exists outside the caller's hands.
func (a *Admin) CreateKey(ctx context.Context, k Key, who string) (string, error) {
	if err := k.Check(); err != nil {
		return "", err
	}
	now := a.now()
	k.Created, k.Revoked = now, time.Time{}
	secret := NewSecret()
	k.Secrets = []Secret{{SHA256: Digest(secret)}}
	body, _ := json.Marshal(k)
	audit := conductor.Audit{Time: now, Who: who, Action: "create", Kind: KindKey, Name: k.Name, After: publicJSON(k)}
	if _, err := a.Store.PutControl(ctx, conductor.ControlItem{Kind: KindKey, Name: k.Name, Body: body}, 0, audit); err != nil {
		if errors.Is(err, conductor.ErrConflict) {
			return "", fmt.Errorf("key %q %w", k.Name, ErrExists)
		}
		return "", err
	}
	return secret, nil
}

// UpdateKey changes key name with change and stores it as action
// ("update", "revoke", "rotate"), retrying when another process changed
// the key meanwhile; it returns the key as stored.
func (a *Admin) UpdateKey(ctx context.Context, name, who, action string, change func(k *Key, now time.Time) error) (Key, error) {
	for attempt := 0; ; attempt++ {
		it, err := a.item(ctx, KindKey, name)
		if err != nil {
			return Key{}, err
		}
		var k Key
		if err := json.Unmarshal(it.Body, &k); err != nil {
			return Key{}, fmt.Errorf("key %q: %w", name, err)
		}
		before := publicJSON(k)
		now := a.now()
		if err := change(&k, now); err != nil {
			return Key{}, err
		}
		k.Name = name
		if err := k.Check(); err != nil {
			return Key{}, err
		}
		body, _ := json.Marshal(k)
		audit := conductor.Audit{Time: now, Who: who, Action: action, Kind: KindKey, Name: name, Before: before, After: publicJSON(k)}
		_, err = a.Store.PutControl(ctx, conductor.ControlItem{Kind: KindKey, Name: name, Body: body}, it.Rev, audit)
		if errors.Is(err, conductor.ErrConflict) && attempt < 5 {
			continue
		}
		return k, err
	}
}

// RevokeKey revokes key name now: every process refuses it (401) from
// its next poll on.
func (a *Admin) RevokeKey(ctx context.Context, name, who string) (Key, error) {
	return a.UpdateKey(ctx, name, who, "revoke", func(k *Key, now time.Time) error {
		if !k.Revoked.IsZero() {
			return fmt.Errorf("key %q was revoked already (%s)", name, k.Revoked.Format(time.RFC3339))
		}
		k.Revoked = now
		return nil
	})
}

// RotateKey gives key name a new secret and returns it; the old secrets
// stay valid for grace (0: not at all), so that callers can switch.
func (a *Admin) RotateKey(ctx context.Context, name string, grace time.Duration, who string) (string, error) {
	secret := NewSecret()
	_, err := a.UpdateKey(ctx, name, who, "rotate", func(k *Key, now time.Time) error {
		if k.Status(now) == "revoked" {
			return fmt.Errorf("key %q is revoked: create a new one", name)
		}
		kept := []Secret{{SHA256: Digest(secret)}}
		for _, s := range k.Secrets {
			until := s.Until
			if until.IsZero() || now.Add(grace).Before(until) {
				until = now.Add(grace)
			}
			if grace > 0 && now.Before(until) {
				kept = append(kept, Secret{SHA256: s.SHA256, Until: until})
			}
		}
		k.Secrets = kept
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// DeleteKey removes key name altogether.
func (a *Admin) DeleteKey(ctx context.Context, name, who string) error {
	it, err := a.item(ctx, KindKey, name)
	if err != nil {
		return err
	}
	var k Key
	_ = json.Unmarshal(it.Body, &k)
	return a.Store.DeleteControl(ctx, KindKey, name, it.Rev,
		conductor.Audit{Time: a.now(), Who: who, Action: "delete", Kind: KindKey, Name: name, Before: publicJSON(k)})
}

// Items returns the items of kind (not keys: Keys), decoded into T.
func Items[T any](ctx context.Context, a *Admin, kind string) ([]T, error) {
	items, err := a.Store.ControlItems(ctx, kind)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		var v T
		if err := json.Unmarshal(it.Body, &v); err != nil {
			return nil, fmt.Errorf("%s %q: %w", kind, it.Name, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Put stores v as the item kind/name: create (it must not exist) or not
// (it may), audited as create or update. The caller validated v.
func (a *Admin) Put(ctx context.Context, kind, name string, v any, create bool, who string) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		var rev int64
		var before []byte
		action := "create"
		if !create {
			it, err := a.item(ctx, kind, name)
			switch {
			case err == nil:
				rev, before, action = it.Rev, it.Body, "update"
			case !errors.Is(err, conductor.ErrNotFound):
				return err
			}
		}
		audit := conductor.Audit{Time: a.now(), Who: who, Action: action, Kind: kind, Name: name, Before: before, After: body}
		_, err := a.Store.PutControl(ctx, conductor.ControlItem{Kind: kind, Name: name, Body: body}, rev, audit)
		switch {
		case errors.Is(err, conductor.ErrConflict) && create:
			return fmt.Errorf("%s %q %w", kind, name, ErrExists)
		case errors.Is(err, conductor.ErrConflict) && attempt < 5:
			continue
		}
		return err
	}
}

// Delete removes the item kind/name.
func (a *Admin) Delete(ctx context.Context, kind, name, who string) error {
	it, err := a.item(ctx, kind, name)
	if err != nil {
		return err
	}
	return a.Store.DeleteControl(ctx, kind, name, it.Rev,
		conductor.Audit{Time: a.now(), Who: who, Action: "delete", Kind: kind, Name: name, Before: it.Body})
}

// item returns kind/name, or an error wrapping conductor.ErrNotFound.
func (a *Admin) item(ctx context.Context, kind, name string) (conductor.ControlItem, error) {
	items, err := a.Store.ControlItems(ctx, kind)
	if err != nil {
		return conductor.ControlItem{}, err
	}
	i := slices.IndexFunc(items, func(it conductor.ControlItem) bool { return it.Name == name })
	if i < 0 {
		return conductor.ControlItem{}, fmt.Errorf("no %s %q: %w", kind, name, conductor.ErrNotFound)
	}
	return items[i], nil
}

// publicJSON is a key as the audit log keeps it: without its digests.
func publicJSON(k Key) []byte {
	b, _ := json.Marshal(k.Public())
	return b
}
