package produce

import "github.com/sluicehq/sluice/internal/bufpool"

// fileBuffers recycles the buffers files are encoded into (1 MiB to
// 128 MiB): under load a flush is tens of MiB, and zeroing a fresh buffer
// for each was about a tenth of the agent's produce CPU.
var fileBuffers = bufpool.New(20, 27)
