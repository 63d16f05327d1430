package kafka

import (
	"context"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

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
	case errors.Is(err, produce.ErrClosed):
		// Shutting down: send the client to refresh metadata and retry,
		// which reaches another agent (or this one after restart).
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, produce.ErrStorage), errors.Is(err, fetch.ErrStorage):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	}
	return kerr.UnknownServerError.Code
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
	case errors.Is(err, context.Canceled):
		return kerr.CoordinatorNotAvailable.Code
	}
	return errorCode(err)
}
