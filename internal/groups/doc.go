// Package groups is the consumer group coordinator: the classic group
// protocol (join, sync, heartbeat, leave, static membership), KIP-848
// consumer groups (ConsumerGroupHeartbeat, server-side assignors), and
// committed offsets, plain and transactional. Each group is owned by one
// agent, chosen by rendezvous hashing over the live agents; an agent
// claims a group in the metadata store before acting for it, which bumps
// the group's owner epoch, and every write it makes carries that epoch, so
// an agent that lost ownership cannot write anything (it sees
// metadata.ErrFenced and answers NOT_COORDINATOR).
//
// Errors returned to the protocol layer are franz-go kerr values: the group
// protocol's own vocabulary.
//
// # Where things are
//
// Shared:
//
//	coordinator.go         Coordinator, Config, Store; loading (claiming) and dropping groups
//	clock.go               Clock: real time in production, a manual clock in tests
//	admin.go               DescribeGroups, ListGroups, DeleteGroups (both group types)
//	offsets.go             OffsetCommit, OffsetFetch (member checks, require_stable), OffsetDelete
//	txn_offsets.go         TxnOffsetCommit: member checks (KIP-447) and staging in the store
//	metrics.go             Prometheus collectors
//
// The classic protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup):
//
//	classic_api.go         the Coordinator's entry points
//	classic_group.go       API types, the group and member structs
//	classic_rebalance.go   the join/sync state machine: Empty → PreparingRebalance →
//	                       CompletingRebalance → Stable, static members (KIP-345)
//	classic_session.go     heartbeats, session expiry, leaving, commit checks
//	classic_persist.go     the snapshot saved for Stable and Empty groups, and restore
//
// KIP-848 consumer groups (ConsumerGroupHeartbeat, ConsumerGroupDescribe):
//
//	consumer_api.go        API types, request validation, entry points
//	consumer_group.go      the model, group and member structs, classic ↔ consumer conversion
//	consumer_heartbeat.go  the heartbeat state machine: join, epochs, leave, fencing, timers
//	consumer_reconcile.go  subscriptions, target assignment, per-member reconciliation
//	assign.go              the server-side assignors (uniform, range)
//	consumer_persist.go    the snapshot saved after every change, and restore
//
// Tests: classic_test.go runs the scenarios in testdata/classic, and
// consumer_scenario_test.go those in testdata/consumer (text files of
// commands and expected output; `go test -run Scenario -rewrite` rewrites
// the expected output). Both drive the state machines with a manual clock,
// so timeouts are tested without sleeping.
package groups
