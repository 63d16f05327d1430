package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/metadata"
)

// WatchCommits implements metadata.CommitWatcher with LISTEN on a dedicated
// connection: PostgreSQL delivers the NOTIFY each commit sends as soon as
// the commit is durable. When the connection breaks it reconnects with
// backoff (up to a second apart) and calls fn once connected again, since
// commits may have gone unannounced meanwhile.
func (s *Store) WatchCommits(ctx context.Context, fn func([]metadata.TopicPartition)) error {
	backoff := 50 * time.Millisecond
	first := true
	for {
		conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+commitChannel)
			if err == nil {
				if !first {
					fn(nil) // commits may have gone unannounced
				}
				first = false
				backoff = 50 * time.Millisecond
				err = listen(ctx, conn, fn)
			}
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(closeCtx)
			cancel()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		first = false
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, time.Second)
	}
}

// listenIdleCheck is how long the LISTEN connection may stay silent before
// it is pinged: a database that vanished without closing the connection
// (a network partition, a failover) is noticed within about this long.
const listenIdleCheck = 15 * time.Second

// listen calls fn for every notification until the connection fails or ctx
// ends.
func listen(ctx context.Context, conn *pgx.Conn, fn func([]metadata.TopicPartition)) error {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, listenIdleCheck)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			fn(metadata.DecodeCommitNotice(n.Payload))
		case ctx.Err() != nil:
			return ctx.Err()
		case waitCtx.Err() != nil && !conn.IsClosed():
			// Idle: make sure the server is still there.
			pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}
