package chaos

import (
	"bufio"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// kafkaErrors sums the agents' sluice_kafka_errors_total by API and error
// code: the Kafka errors the clients were answered with (since each
// agent's last start), retriable or not by franz-go's reckoning.
func kafkaErrors(agents []*agent) map[[2]string]float64 {
	out := map[[2]string]float64{}
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, a := range agents {
		resp, err := hc.Get("http://" + a.httpAddr + "/metrics")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			rest, ok := strings.CutPrefix(line, "sluice_kafka_errors_total{")
			if !ok {
				continue
			}
			labels, val, ok := strings.Cut(rest, "} ")
			if !ok {
				continue
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil {
				continue
			}
			var api, code string
			for _, kv := range strings.Split(labels, ",") {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "api":
					api = strings.Trim(v, `"`)
				case "code":
					code = strings.Trim(v, `"`)
				}
			}
			out[[2]string{api, code}] += v
		}
		resp.Body.Close()
	}
	return out
}

// kafkaErrorTable renders kafkaErrors, most frequent first, marking the
// codes clients do not retry.
func kafkaErrorTable(errs map[[2]string]float64) string {
	type row struct {
		api, code string
		n         float64
	}
	var rows []row
	for k, n := range errs {
		if n > 0 {
			rows = append(rows, row{k[0], k[1], n})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].n != rows[j].n {
			return rows[i].n > rows[j].n
		}
		return rows[i].api+rows[i].code < rows[j].api+rows[j].code
	})
	var b strings.Builder
	b.WriteString("Kafka errors the agents answered (sluice_kafka_errors_total since each agent's last start):\n")
	if len(rows) == 0 {
		b.WriteString("  none\n")
	}
	for _, r := range rows {
		name, kind := r.code, "not retriable"
		if c, err := strconv.Atoi(r.code); err == nil {
			if e := kerr.ErrorForCode(int16(c)); e != nil {
				if ke, ok := e.(*kerr.Error); ok {
					name = fmt.Sprintf("%s (%d)", ke.Message, c)
					if ke.Retriable {
						kind = "retriable"
					}
				}
			}
		}
		fmt.Fprintf(&b, "  %-22s %-40s %-13s %8.0f\n", r.api, name, kind, r.n)
	}
	return b.String()
}

// unknownServerErrors counts UNKNOWN_SERVER_ERROR (-1) answers, any API.
func unknownServerErrors(errs map[[2]string]float64) float64 {
	n := 0.0
	for k, v := range errs {
		if k[1] == "-1" {
			n += v
		}
	}
	return n
}
