package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/plugin/internal/testconn"
)

// pair is a source and a target, in process or through the plugin.
type pair struct {
	src connectors.Source
	tgt connectors.Target
}

// step is one SPI call; it returns what the caller would see.
type step struct {
	name string
	run  func(ctx context.Context, p pair) (any, error)
}

var errStop = errors.New("emit says stop")

func readAll(typ connectors.ObjectType, wm string, stopAfter int) func(ctx context.Context, p pair) (any, error) {
	return func(ctx context.Context, p pair) (any, error) {
		var got []connectors.Change
		res, err := p.src.Read(ctx, connectors.ReadRequest{Type: typ, Watermark: wm}, func(c connectors.Change) error {
			if stopAfter > 0 && len(got) == stopAfter {
				return errStop
			}
			got = append(got, c)
			return nil
		})
		return []any{got, res}, err
	}
}

func listAll(typ connectors.ObjectType, attrs []string) func(ctx context.Context, p pair) (any, error) {
	return func(ctx context.Context, p pair) (any, error) {
		var got []connectors.TargetObject
		err := p.tgt.(connectors.Lister).List(ctx, typ, attrs, func(o connectors.TargetObject) error {
			got = append(got, o)
			return nil
		})
		return got, err
	}
}

func spiSteps() []step {
	user := testconn.Values()
	user["userName"] = "Alice@Example.com"
	mod := func(name string, op connectors.ModOp, v any) []connectors.Modification {
		return []connectors.Modification{{Name: name, Op: op, Value: v}}
	}
	steps := []step{
		{"source test", func(ctx context.Context, p pair) (any, error) { return nil, p.src.Test(ctx) }},
		{"read users full", readAll(connectors.TypeUser, "", 0)},
		{"read groups full", readAll(connectors.TypeGroup, "", 0)},
		{"read users incremental", readAll(connectors.TypeUser, "3", 0)},
		{"read stopped by emit", readAll(connectors.TypeUser, "", 5)},
		{"read failing", readAll(connectors.TypeUser, "fail:throttled", 0)},
		{"source get", func(ctx context.Context, p pair) (any, error) { return p.src.Get(ctx, connectors.TypeUser, "u-values") }},
		{"source get missing", func(ctx context.Context, p pair) (any, error) { return p.src.Get(ctx, connectors.TypeUser, "nobody") }},
		{"source get failing", func(ctx context.Context, p pair) (any, error) {
			return p.src.Get(ctx, connectors.TypeUser, "fail:plain")
		}},
		{"estimate", func(ctx context.Context, p pair) (any, error) {
			return p.src.(connectors.Estimator).Estimate(ctx, connectors.ReadRequest{Type: connectors.TypeUser})
		}},
		{"target test", func(ctx context.Context, p pair) (any, error) { return nil, p.tgt.Test(ctx) }},
		{"create user with every kind of value", func(ctx context.Context, p pair) (any, error) {
			return p.tgt.Create(ctx, connectors.TypeUser, user)
		}},
		{"create user 2", func(ctx context.Context, p pair) (any, error) {
			return p.tgt.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "bob@example.com", "tags": []string{"a", "b"}})
		}},
		{"create duplicate", func(ctx context.Context, p pair) (any, error) {
			return p.tgt.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": "ALICE@example.com"})
		}},
		{"create nil attributes", func(ctx context.Context, p pair) (any, error) { return p.tgt.Create(ctx, connectors.TypeUser, nil) }},
		{"create group", func(ctx context.Context, p pair) (any, error) {
			return p.tgt.Create(ctx, connectors.TypeGroup, connectors.Attributes{"displayName": "Admins", "members": []string{"t-1"}})
		}},
		{"find", func(ctx context.Context, p pair) (any, error) {
			return p.tgt.Find(ctx, connectors.TypeUser, "userName", "alice@example.com")
		}},
		{"find by number", func(ctx context.Context, p pair) (any, error) {
			return p.tgt.Find(ctx, connectors.TypeUser, "int64", int64(42))
		}},
		{"find in a list", func(ctx context.Context, p pair) (any, error) {
			return p.tgt.Find(ctx, connectors.TypeUser, "tags", "b")
		}},
		{"find nothing", func(ctx context.Context, p pair) (any, error) {
			return p.tgt.Find(ctx, connectors.TypeUser, "userName", "nobody")
		}},
		{"find by id", func(ctx context.Context, p pair) (any, error) {
			return p.tgt.Find(ctx, connectors.TypeGroup, "id", "t-4")
		}},
		{"get", func(ctx context.Context, p pair) (any, error) { return p.tgt.Get(ctx, connectors.TypeUser, "t-1") }},
		{"get missing", func(ctx context.Context, p pair) (any, error) { return p.tgt.Get(ctx, connectors.TypeUser, "t-99") }},
		{"update replace", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.Update(ctx, connectors.TypeUser, "t-1", mod("title", connectors.ModReplace, "Boss"))
		}},
		{"update replace list", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.Update(ctx, connectors.TypeUser, "t-2", mod("tags", connectors.ModRemove, []string{"a"}))
		}},
		{"update remove", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.Update(ctx, connectors.TypeUser, "t-1", mod("float", connectors.ModRemove, nil))
		}},
		{"update nil modifications", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.Update(ctx, connectors.TypeUser, "t-1", nil)
		}},
		{"update conflict", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.Update(ctx, connectors.TypeUser, "t-2", mod("userName", connectors.ModReplace, "alice@EXAMPLE.com"))
		}},
		{"update missing", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.Update(ctx, connectors.TypeUser, "t-99", mod("a", connectors.ModReplace, "b"))
		}},
		{"update unknown op", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.Update(ctx, connectors.TypeUser, "t-1", mod("a", "add", "b"))
		}},
		{"disable", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.Disable(ctx, connectors.TypeUser, "t-2")
		}},
		{"enable", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.(connectors.Enabler).Enable(ctx, connectors.TypeUser, "t-2")
		}},
		{"add members", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.AddMembers(ctx, "t-4", []string{"t-2", "t-3"})
		}},
		{"add unknown member", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.AddMembers(ctx, "t-4", []string{"t-77"})
		}},
		{"remove members", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.RemoveMembers(ctx, "t-4", []string{"t-1"})
		}},
		{"remove members of a missing group", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.RemoveMembers(ctx, "t-99", nil)
		}},
		{"list users", listAll(connectors.TypeUser, nil)},
		{"list groups, some attributes", listAll(connectors.TypeGroup, []string{"displayName", "members"})},
		{"delete", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.Delete(ctx, connectors.TypeUser, "t-3")
		}},
		{"delete missing", func(ctx context.Context, p pair) (any, error) {
			return nil, p.tgt.Delete(ctx, connectors.TypeUser, "t-3")
		}},
		{"get group after changes", func(ctx context.Context, p pair) (any, error) { return p.tgt.Get(ctx, connectors.TypeGroup, "t-4") }},
	}
	// Every error class and shape, from every kind of call.
	var fails []string
	for _, c := range testconn.Classes {
		fails = append(fails, string(c), "wrapped-"+string(c))
	}
	fails = append(fails, "plain", "deadline")
	for _, f := range fails {
		v := "fail:" + f
		steps = append(steps,
			step{"create fails " + f, func(ctx context.Context, p pair) (any, error) {
				return p.tgt.Create(ctx, connectors.TypeUser, connectors.Attributes{"userName": v})
			}},
			step{"find fails " + f, func(ctx context.Context, p pair) (any, error) { return p.tgt.Find(ctx, connectors.TypeUser, "x", v) }},
			step{"update fails " + f, func(ctx context.Context, p pair) (any, error) {
				return nil, p.tgt.Update(ctx, connectors.TypeUser, "t-1", mod("x", connectors.ModReplace, v))
			}},
			step{"delete fails " + f, func(ctx context.Context, p pair) (any, error) { return nil, p.tgt.Delete(ctx, connectors.TypeUser, v) }},
			step{"members fail " + f, func(ctx context.Context, p pair) (any, error) { return nil, p.tgt.AddMembers(ctx, "t-4", []string{v}) }},
			step{"source get fails " + f, func(ctx context.Context, p pair) (any, error) { return p.src.Get(ctx, connectors.TypeUser, v) }},
			step{"read fails " + f, readAll(connectors.TypeUser, v, 0)},
		)
	}
	return steps
}

// sameError reports how got differs from want ("" when the caller cannot tell them apart).
func sameError(got, want error) string {
	switch {
	case got == nil && want == nil:
		return ""
	case got == nil || want == nil:
		return fmt.Sprintf("error %v, want %v", got, want)
	case got.Error() != want.Error():
		return fmt.Sprintf("error text %q, want %q", got.Error(), want.Error())
	case connectors.ClassOf(got) != connectors.ClassOf(want):
		return fmt.Sprintf("class %s, want %s", connectors.ClassOf(got), connectors.ClassOf(want))
	case !reflect.DeepEqual(connectors.AsError(got), connectors.AsError(want)):
		return fmt.Sprintf("AsError %#v, want %#v", connectors.AsError(got), connectors.AsError(want))
	case errors.Is(got, context.DeadlineExceeded) != errors.Is(want, context.DeadlineExceeded):
		return "errors.Is(context.DeadlineExceeded) differs"
	case errors.Is(got, errStop) != errors.Is(want, errStop):
		return "the emit error is not returned as is"
	}
	return ""
}

type callShape struct {
	Method, Target, Error string
	Status                int
}

func shapes(calls []connectors.Call) []callShape {
	var out []callShape
	for _, c := range calls {
		out = append(out, callShape{c.Method, c.Target, c.Error, c.Status})
	}
	return out
}

// TestSPIRoundTrip runs every SPI call, with every error class and shape, against the same
// connector in process and through the plugin: the caller sees the same results, the same
// errors and the same recorded connector calls.
func TestSPIRoundTrip(t *testing.T) {
	c := open(t, "testplugin", Config{})
	if !c.Info().Source || !c.Info().Target || !c.Info().Estimator || !c.Info().Lister || !c.Info().Enabler {
		t.Fatalf("capabilities: %+v", c.Info())
	}
	src, err := c.Source()
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := c.Target()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{src, tgt} {
		if _, ok := v.(interface{ Close() error }); !ok {
			t.Fatal("view without Close")
		}
	}
	plug := pair{src: src, tgt: tgt}
	local := pair{src: testconn.NewSource(), tgt: testconn.NewTarget(slog.New(slog.DiscardHandler))}
	for _, s := range spiSteps() {
		lctx, llog := connectors.WithCallLog(context.Background())
		want, werr := s.run(lctx, local)
		pctx, plog := connectors.WithCallLog(context.Background())
		got, gerr := s.run(pctx, plug)
		if d := sameError(gerr, werr); d != "" {
			t.Errorf("%s: %s", s.name, d)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", s.name, got, want)
		}
		if g, w := shapes(plog.Take()), shapes(llog.Take()); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: calls %+v, want %+v", s.name, g, w)
		}
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if c.Pid() == 0 {
		t.Fatal("closing one view stopped the plugin")
	}
	if err := tgt.Close(); err != nil {
		t.Fatal(err)
	}
	if c.Pid() != 0 {
		t.Fatal("the plugin still runs after its last view closed")
	}
	if err := tgt.Test(context.Background()); connectors.ClassOf(err) != connectors.ClassConnection {
		t.Fatalf("call after close: %v, want a connection error", err)
	}
}

// TestContextCrossesBoundary: the caller's deadline and cancellation reach the plugin's
// connector, and the caller sees its own context's error, as in process.
func TestContextCrossesBoundary(t *testing.T) {
	c := open(t, "testplugin", Config{})
	tgt, _ := c.Target()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err := tgt.Find(ctx, connectors.TypeUser, "x", "fail:sleep")
	if !errors.Is(err, context.DeadlineExceeded) || connectors.AsError(err).Code != "Timeout" {
		t.Fatalf("deadline: got %v (%s)", err, connectors.AsError(err).Code)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err = tgt.Update(ctx, connectors.TypeUser, "t-1", []connectors.Modification{{Name: "x", Op: connectors.ModReplace, Value: "fail:sleep"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: got %v", err)
	}
	if err := tgt.Test(context.Background()); err != nil {
		t.Fatalf("after: %v", err)
	}
}

// TestPanicInConnector: a panic in the connector becomes a retryable error; the plugin
// keeps running.
func TestPanicInConnector(t *testing.T) {
	c := open(t, "testplugin", Config{})
	tgt, _ := c.Target()
	pid := c.Pid()
	_, err := tgt.Create(context.Background(), connectors.TypeUser, connectors.Attributes{"userName": "fail:panic"})
	if connectors.ClassOf(err) != connectors.ClassRetryable || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("got %v", err)
	}
	if err := tgt.Test(context.Background()); err != nil || c.Pid() != pid {
		t.Fatalf("after the panic: %v, pid %d (was %d)", err, c.Pid(), pid)
	}
}

// TestCapabilities: a plugin that is only a target has no source, and says so.
func TestCapabilities(t *testing.T) {
	c := open(t, "testplugin", Config{Args: []string{"-source=false"}})
	if _, err := c.Source(); err == nil || !strings.Contains(err.Error(), "not a source") {
		t.Fatalf("Source: %v", err)
	}
	if _, err := c.Target(); err != nil {
		t.Fatal(err)
	}
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}
