package fetch

import "github.com/sluicehq/sluice/internal/bufpool"

// Response buffers (Result.Records) are recycled: a Fetch allocates up to
// its partition budget per partition, and zeroing those fresh buffers was
// about a seventh of an agent's CPU while it served consumers. Buffers of
// 64 KiB to 16 MiB are kept.
var recordBufs = bufpool.New(16, 24)

// takeRecords returns an empty buffer with room for n bytes.
func takeRecords(n int) []byte { return recordBufs.Get(n) }

// ReleaseRecords hands a Result.Records buffer back for reuse once the
// response holding it has been written. Nothing may use b, or any slice of
// it, afterwards; Shared records are not buffers of the pool and must not
// be released.
func ReleaseRecords(b []byte) { recordBufs.Put(b) }
