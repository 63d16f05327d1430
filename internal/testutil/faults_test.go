package testutil

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/jackc/pgx/v5"
)

// TestBucketFaults drives a real S3 client through the proxy to versitygw:
// requests pass (signed for the proxy's address), fail with 503 SlowDown,
// stall until healed or the client gives up, and slow down.
func TestBucketFaults(t *testing.T) {
	v := StartVersity(t)
	v.NewBucket(t, "faults")
	bf := StartBucketFaults(t, v.Addr())
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String("http://" + bf.Addr()),
		Region:       v.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(v.AccessKey, v.SecretKey, ""),
		Retryer:      aws.NopRetryer{},
	})
	put := func(ctx context.Context) error {
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("faults"), Key: aws.String("k"), Body: strings.NewReader("v")})
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := put(ctx); err != nil {
		t.Fatalf("through a healthy proxy: %v", err)
	}

	bf.Errors(1)
	var apiErr smithy.APIError
	if err := put(ctx); !errors.As(err, &apiErr) || apiErr.ErrorCode() != "SlowDown" {
		t.Fatalf("with errors: %v, want SlowDown", err)
	}
	if !retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(put(ctx)).Bool() {
		t.Fatal("SlowDown is not retryable for the AWS SDK")
	}
	bf.Heal()

	bf.Stall()
	sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := put(sctx)
	scancel()
	if err == nil {
		t.Fatal("a put went through a stalled proxy")
	}
	done := make(chan error, 1)
	go func() { done <- put(ctx) }()
	time.Sleep(100 * time.Millisecond) // the put is held, not failed
	select {
	case err := <-done:
		t.Fatalf("stalled put returned early: %v", err)
	default:
	}
	bf.Heal()
	if err := <-done; err != nil {
		t.Fatalf("stalled put after heal: %v", err)
	}

	bf.Slow(300 * time.Millisecond)
	start := time.Now()
	if err := put(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("slowed put took %v", d)
	}
	bf.Heal()
	st := bf.Stats()
	if st.Errored != 2 || st.Stalled != 2 || st.Delayed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPostgresKill crashes the server and brings it back through crash
// recovery with its data.
func TestPostgresKill(t *testing.T) {
	pg := StartPostgres(t)
	url := pg.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	pg.Kill()
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("connection survived the kill")
	}
	conn.Close(ctx)
	pg.Start()
	conn, err = pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 1 {
		t.Fatalf("after crash recovery: %v %d", err, v)
	}
}
