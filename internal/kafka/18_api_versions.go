package kafka

// ApiVersions (key 18), versions 0-4.
//
// Advertises exactly the table in dispatch.go. A request of a version this
// agent does not support is answered in the v0 format with
// UNSUPPORTED_VERSION and the supported table, so the client can retry with
// a version both sides know (KIP-511). Client software name and version
// (v3+) are accepted without validation. No features are advertised.

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func apiKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(supported))
	for k, r := range supported {
		keys = append(keys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: r.min, MaxVersion: r.max})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

func (s *Server) handleApiVersions(req *request, _ *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = req.version
	resp.ApiKeys = apiKeys()
	return resp
}

// apiVersionsFallback is the KIP-511 answer to an ApiVersions request of an
// unknown version: always encoded as v0.
func apiVersionsFallback() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiKeys()
	return resp
}
