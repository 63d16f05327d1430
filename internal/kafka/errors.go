package kafka

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/dynconfig"
	"github.com/sluicehq/sluice/internal/fetch"
	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/produce"
	"github.com/sluicehq/sluice/internal/topics"
)

// errorCode maps an internal error to the Kafka error code a broker would
// send for it.
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, metadata.ErrUnknownTopic), errors.Is(err, metadata.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, metadata.ErrPartitionCount):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, metadata.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, metadata.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, metadata.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, metadata.ErrInvalidTxnState):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, metadata.ErrUnknownProducerID):
		return kerr.UnknownProducerID.Code
	case errors.Is(err, fetch.ErrOffsetOutOfRange), errors.Is(err, metadata.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, topics.ErrInvalidName):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, topics.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, dynconfig.ErrInvalidQuota):
		return kerr.InvalidRequest.Code
	case errors.Is(err, produce.ErrClosed):
		// Shutting down: send the client to refresh metadata and retry,
		// which reaches another agent (or this one after restart).
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, produce.ErrStorage), errors.Is(err, fetch.ErrStorage):
		return kerr.KafkaStorageError.Code
	case errors.As(err, new(*kerr.Error)):
		// A handler's error that wraps a Kafka error ("%w: detail").
		var ke *kerr.Error
		errors.As(err, &ke)
		return ke.Code
	case errors.Is(err, context.DeadlineExceeded), unavailable(err):
		// A dependency (metadata store, bucket) that does not answer:
		// retriable, as a broker whose controller or disk is slow.
		return kerr.RequestTimedOut.Code
	}
	return kerr.UnknownServerError.Code
}

// unavailable reports whether err says a dependency is unreachable or
// overloaded rather than that the request is wrong: a network error
// (connection refused or reset, a timeout), a connection that dropped
// mid-query, a PostgreSQL connection, shutdown or resource error, a
// serialization conflict, a busy SQLite database, or an error its driver
// marks safe to retry. Such errors always map to a retriable Kafka code, so
// clients retry through an outage instead of failing their records.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var retry interface{ SafeToRetry() bool }
	if errors.As(err, &retry) && retry.SafeToRetry() {
		return true
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return true
	}
	// PostgreSQL (pgconn.PgError, without importing the driver here).
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		switch code := pg.SQLState(); {
		case strings.HasPrefix(code, "08"), // connection exception
			strings.HasPrefix(code, "53"),                     // insufficient resources
			code == "57P01", code == "57P02", code == "57P03", // shutdown, crash, starting up
			code == "40001", code == "40P01", // serialization failure, deadlock
			code == "55P03": // lock not available
			return true
		}
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY") ||
		strings.Contains(msg, "conn closed") || strings.Contains(msg, "closed pool") ||
		strings.Contains(msg, "failed to connect")
}

// produceErrorCode maps an error answering a produce. An error that maps
// to nothing specific is KAFKA_STORAGE_ERROR (retriable), never
// UNKNOWN_SERVER_ERROR: the batch may have been stored by an attempt whose
// answer was lost (a commit cut off, a retry of it failing on something
// else), and an idempotent producer told its batch failed for good reuses
// the batch's sequence number for the next one, which the store would then
// take for a duplicate and acknowledge without storing it. Retrying the
// same batch instead is answered with its original offsets. The chaos
// checker found this (docs/reliability.md).
//
// A flush whose metadata store or bucket did not answer is REQUEST_TIMED_OUT,
// as Kafka answers a write whose replication did not complete in time:
// every client knows and retries it, while some (kafka-python 2.0) do not
// know KAFKA_STORAGE_ERROR and fail the record for good.
func produceErrorCode(err error) int16 {
	if errors.Is(err, produce.ErrStorage) && unavailable(err) {
		return kerr.RequestTimedOut.Code
	}
	if code := errorCode(err); code != kerr.UnknownServerError.Code {
		return code
	}
	return kerr.KafkaStorageError.Code
}

// errorMessage returns a message for response fields that carry one, nil for
// success.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	m := err.Error()
	// A handler's error that wraps a Kafka error ("%w: detail") sends the
	// code in the response's error code; the message carries the detail,
	// not the code's name and generic description again.
	var ke *kerr.Error
	if errors.As(err, &ke) {
		m = strings.TrimPrefix(m, ke.Error()+": ")
	}
	return &m
}

// groupErrorCode maps a coordinator error: the groups package speaks in
// kerr values already; anything else goes through errorCode.
func groupErrorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, context.Canceled), unavailable(err):
		// The store behind the coordinator is unreachable: clients look
		// the coordinator up again and retry.
		return kerr.CoordinatorNotAvailable.Code
	}
	return errorCode(err)
}
