package objstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluicehq/sluice/internal/records"
	"github.com/sluicehq/sluice/internal/segment"
)

// s3Bucket is an s3:// bucket. Reads, lists and deletes go through gocloud;
// Put, the write path's one call per flush, sends the file as a single
// PutObject with the SDK client gocloud opened, because gocloud's writer
// costs far more CPU than the upload needs on a busy agent (profiled with
// `BUCKET=s3 bench/run.sh`, see docs/performance.md):
//
//   - Bucket.WriteAll hashes every object with MD5 twice, to check its own
//     in-process pipe: the MD5 is never sent to S3 (gocloud dropped
//     Content-MD5), so it protects nothing on the wire.
//   - The transfer manager behind it copies the object through an io.Pipe
//     into freshly zeroed part buffers and splits files above its part size
//     (8 MiB) into a multipart upload: three extra requests and, on the
//     server, a concatenation.
//
// Integrity on the wire: every PutObject carries x-amz-checksum-crc32c, the
// CRC-32C of the whole object, which the store verifies before it stores
// anything. For a segment file it is derived from the checksum the segment
// writer stored in the trailer (segment.FileCRC32C, no pass over the data),
// so the store also refuses a file whose bytes changed in memory between
// building and upload; other objects get a fresh CRC-32C. The SigV4 signature
// covers the payload's SHA-256 only where the transport needs it: over
// HTTPS (AWS's default endpoints, and any https:// endpoint) TLS protects
// the body and the SDK itself then signs UNSIGNED-PAYLOAD; to a loopback
// endpoint (an S3 gateway on the same host) nothing but the kernel carries
// the bytes, and the CRC-32C still covers them. A plain-HTTP endpoint on
// another host, or loopback without the checksum, keeps the signed
// SHA-256, so a body changed in transit is still refused.
type s3Bucket struct {
	*blobBucket
	client *s3.Client
	name   string
	// unsignedPayload: the endpoint is https, or loopback with checksum
	// set (see above).
	unsignedPayload bool
	// checksum: send x-amz-checksum-crc32c (off with the URL option
	// request_checksum_calculation=when_required, for third-party stores
	// that refuse checksum headers).
	checksum bool
}

// openS3 wraps a gocloud s3:// bucket whose URL is u.
func openS3(b *blobBucket, u *url.URL) (Bucket, error) {
	var client *s3.Client
	if !b.b.As(&client) {
		return nil, fmt.Errorf("objstore: %s: the s3 driver exposes no client", u.Redacted())
	}
	q := u.Query()
	tls, loopback := s3Transport(q)
	checksum := q.Get("request_checksum_calculation") != "when_required"
	return &s3Bucket{
		blobBucket:      b,
		client:          client,
		name:            u.Host,
		unsignedPayload: tls || loopback && checksum,
		checksum:        checksum,
	}, nil
}

// s3Transport reports whether the bucket URL's endpoint is reached over TLS,
// or else over loopback.
func s3Transport(q url.Values) (tls, loopback bool) {
	ep := q.Get("endpoint")
	if ep == "" {
		// AWS's own endpoints: https unless disable_https is set.
		return q.Get("disable_https") != "true", false
	}
	e, err := url.Parse(ep)
	if err != nil {
		return false, false
	}
	if strings.EqualFold(e.Scheme, "https") {
		return true, false
	}
	host := e.Hostname()
	if strings.EqualFold(host, "localhost") {
		return false, true
	}
	ip := net.ParseIP(host)
	return false, ip != nil && ip.IsLoopback()
}

// needsEscape reports whether gocloud would escape key (a control byte, or
// "../"): such keys take gocloud's path so both halves agree on the name.
// Sluice's own keys never do.
func needsEscape(key string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] < 32 {
			return true
		}
	}
	return strings.Contains(key, "../")
}

func (b *s3Bucket) Put(ctx context.Context, key string, data []byte) error {
	if needsEscape(key) {
		return b.blobBucket.Put(ctx, key, data)
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(b.name),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/octet-stream"),
	}
	if b.checksum {
		crc, ok := segment.FileCRC32C(data)
		if !ok {
			crc = crc32.Checksum(data, records.Castagnoli)
		}
		var sum [4]byte
		binary.BigEndian.PutUint32(sum[:], crc)
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
		in.ChecksumCRC32C = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	}
	var opts []func(*s3.Options)
	if b.unsignedPayload {
		opts = append(opts, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	}
	if _, err := b.client.PutObject(ctx, in, opts...); err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	return nil
}
