// Package refresh runs the poll loops that keep an agent's copy of shared
// state (ACLs, dynamic configs) current: each tick asks the metadata store
// for the state's version and reloads only when it moved.
package refresh

import (
	"context"
	"time"
)

// Every calls refresh each interval until ctx ends, giving each call
// timeout. warn hears the first error of each run of failures (not every
// tick of an outage); errors after ctx ended are not reported.
func Every(ctx context.Context, interval, timeout time.Duration, refresh func(context.Context) error, warn func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		err := refresh(rctx)
		cancel()
		if err != nil && ctx.Err() == nil && !failing {
			warn(err)
		}
		failing = err != nil
	}
}

// IfChanged reloads through load when the version the store reports
// differs from the one held.
func IfChanged(ctx context.Context, version func(context.Context) (int64, error), held int64, load func(context.Context) error) error {
	v, err := version(ctx)
	if err != nil {
		return err
	}
	if v == held {
		return nil
	}
	return load(ctx)
}
