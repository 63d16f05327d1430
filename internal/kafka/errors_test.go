package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/internal/metadata"
	"github.com/sluicehq/sluice/internal/produce"
)

// pgError carries a SQLSTATE as pgconn.PgError does.
type pgError struct{ code string }

func (e pgError) Error() string    { return "ERROR: test (SQLSTATE " + e.code + ")" }
func (e pgError) SQLState() string { return e.code }

// TestDependencyErrorsAreRetriable: every way a metadata store or bucket
// outage surfaces maps, on every API family, to a Kafka error code clients
// retry, never to UNKNOWN_SERVER_ERROR.
func TestDependencyErrorsAreRetriable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	outages := []error{
		fmt.Errorf("failed to connect to `host=127.0.0.1 user=postgres database=x`: dial error (%w)", refused),
		fmt.Errorf("list topics: %w", refused),
		fmt.Errorf("commit: %w", context.DeadlineExceeded),
		fmt.Errorf("query: %w", io.ErrUnexpectedEOF),
		fmt.Errorf("begin: %w", pgError{"57P01"}), // admin shutdown
		fmt.Errorf("begin: %w", pgError{"08006"}), // connection failure
		fmt.Errorf("begin: %w", pgError{"40001"}), // serialization failure
		&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET},
		errors.New("sqlite: database is locked (5) (SQLITE_BUSY)"),
	}
	mappers := map[string]func(error) int16{
		"errorCode (produce, fetch, admin)":               errorCode,
		"groupErrorCode (groups, transactions)":           groupErrorCode,
		"metadataErrorCode (metadata, list offsets, ...)": metadataErrorCode,
	}
	for name, mapper := range mappers {
		for _, err := range outages {
			code := mapper(err)
			if !kerr.IsRetriable(kerr.ErrorForCode(code)) {
				t.Errorf("%s(%v) = %v, want a retriable code", name, err, kerr.ErrorForCode(code))
			}
		}
	}
	// A request the store refuses for what it is stays non-retriable.
	if unavailable(pgError{"23505"}) || unavailable(errors.New("metadata: unknown topic")) {
		t.Error("a unique violation or a plain error is classified as an outage")
	}
}

// TestProduceErrorsNeverUnknown: produce answers an error it cannot
// classify with a retriable code, since the batch may be stored already
// (see produceErrorCode); errors with a meaning keep their code.
func TestProduceErrorsNeverUnknown(t *testing.T) {
	odd := errors.New("commit file: something no one foresaw")
	if got := errorCode(odd); got != kerr.UnknownServerError.Code {
		t.Fatalf("errorCode of an unclassified error = %v; the test assumes UNKNOWN_SERVER_ERROR", kerr.ErrorForCode(got))
	}
	if got := produceErrorCode(odd); !kerr.IsRetriable(kerr.ErrorForCode(got)) {
		t.Errorf("produceErrorCode of an unclassified error = %v, want a retriable code", kerr.ErrorForCode(got))
	}
	for _, err := range []error{metadata.ErrOutOfOrderSequence, metadata.ErrInvalidProducerEpoch, metadata.ErrUnknownTopic} {
		if got, want := produceErrorCode(err), errorCode(err); got != want {
			t.Errorf("produceErrorCode(%v) = %v, want %v as errorCode", err, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
		}
	}
	// A flush whose store did not answer: a code every client retries.
	refused := fmt.Errorf("%w: commit file f: %w", produce.ErrStorage, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	if got := produceErrorCode(refused); got != kerr.RequestTimedOut.Code {
		t.Errorf("produceErrorCode(%v) = %v, want REQUEST_TIMED_OUT", refused, kerr.ErrorForCode(got))
	}
	// Other storage failures keep KAFKA_STORAGE_ERROR.
	broken := fmt.Errorf("%w: %v", produce.ErrStorage, odd)
	if got := produceErrorCode(broken); got != kerr.KafkaStorageError.Code {
		t.Errorf("produceErrorCode(%v) = %v, want KAFKA_STORAGE_ERROR", broken, kerr.ErrorForCode(got))
	}
}
