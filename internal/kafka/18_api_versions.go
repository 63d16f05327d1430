package kafka

// ApiVersions (key 18), versions 0-5.
//
// Advertises exactly the table in dispatch.go. A request of a version this
// agent does not support is answered in the v0 format with
// UNSUPPORTED_VERSION and, as Kafka does (KIP-511), only ApiVersions' own
// entry, so the client retries with the newest version both sides know
// (a client given the whole table would keep the v0 answer and never see
// the features below). Client software name and version (v3+) are
// accepted without validation. Version 5 (KIP-1242): a client naming the
// cluster ID and node ID it expects to reach gets REBOOTSTRAP_REQUIRED
// when either is not this agent's, and INVALID_REQUEST when it names only
// one of them.
//
// Features (v3+, KIP-584): `transaction.version` is supported 0-2 and
// finalized at 2, which is how clients (franz-go, Java 4.x) learn that
// transactions version 2 (KIP-890 part 2: Produce v12, TxnOffsetCommit v5
// and EndTxn v5 with an epoch bump per transaction) may be used. Sluice
// serves every level at once, so the finalized level never changes and
// the finalized features epoch is a constant.

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

func (s *Server) handleApiVersions(req *request, m *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = req.version
	if req.version >= 5 && (m.ClusterID != nil) != (m.NodeID >= 0) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	if req.version >= 5 && m.ClusterID != nil && (*m.ClusterID != s.cluster || m.NodeID != s.members.Self().NodeID) {
		resp.ErrorCode = kerr.RebootstrapRequired.Code
		return resp
	}
	resp.ApiKeys = apiKeys()
	if req.version >= 3 {
		for _, f := range features {
			sf := kmsg.NewApiVersionsResponseSupportedFeature()
			sf.Name, sf.MinVersion, sf.MaxVersion = f.name, f.min, f.max
			resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
			ff := kmsg.NewApiVersionsResponseFinalizedFeature()
			ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = f.name, f.finalized, f.finalized
			resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
		}
		resp.FinalizedFeaturesEpoch = finalizedFeaturesEpoch
	}
	return resp
}

// features are the KIP-584 features this agent advertises: supported
// from min to max, finalized (in effect cluster-wide) at finalized.
var features = []struct {
	name      string
	min, max  int16
	finalized int16
}{
	{name: "transaction.version", min: 0, max: 2, finalized: 2},
}

// finalizedFeaturesEpoch is the epoch of the finalized features: constant,
// since they never change.
const finalizedFeaturesEpoch = 1

// apiVersionsFallback is the KIP-511 answer to an ApiVersions request of an
// unknown version: always encoded as v0.
func apiVersionsFallback() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	r := supported[apiVersionsKey]
	resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: apiVersionsKey, MinVersion: r.min, MaxVersion: r.max}}
	return resp
}
