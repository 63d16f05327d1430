package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/sluicehq/sluice/internal/adminapi"
	"github.com/sluicehq/sluice/internal/query"
)

// Charts are SVG drawn here, on the server: numbers only, no script, so a
// page shows them as soon as it loads and no charting library is shipped.

// series is one line of a chart.
type series struct {
	name   string
	class  string // CSS class setting its colour
	points []float64
}

const (
	chartW = 640
	chartH = 180
	padL   = 64
	padB   = 22
	padT   = 10
)

// lineChart draws series over the same x positions (minutes).
func lineChart(title, unit string, labels []string, ss []series) template.HTML {
	var peak float64
	for _, s := range ss {
		for _, v := range s.points {
			peak = max(peak, v)
		}
	}
	top := niceCeil(peak)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(title))
	plotW, plotH := float64(chartW-padL-8), float64(chartH-padB-padT)
	for i := 0; i <= 4; i++ {
		y := float64(padT) + plotH*float64(i)/4
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-8, y, y)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y+4, template.HTMLEscapeString(formatUnit(top*float64(4-i)/4, unit)))
	}
	n := 0
	for _, s := range ss {
		n = max(n, len(s.points))
	}
	x := func(i int) float64 {
		if n <= 1 {
			return float64(padL)
		}
		return float64(padL) + plotW*float64(i)/float64(n-1)
	}
	for i, l := range labels {
		if l == "" {
			continue
		}
		anchor := "middle"
		if i == len(labels)-1 {
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(i), chartH-6, anchor, template.HTMLEscapeString(l))
	}
	for _, s := range ss {
		var pts []string
		for i, v := range s.points {
			y := float64(padT) + plotH
			if top > 0 {
				y -= plotH * v / top
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y))
		}
		fmt.Fprintf(&b, `<polyline class="line %s" points="%s"><title>%s</title></polyline>`, s.class, strings.Join(pts, " "), template.HTMLEscapeString(s.name))
	}
	b.WriteString(`</svg><div class="legend">`)
	for _, s := range ss {
		fmt.Fprintf(&b, `<span class="key %s"></span>%s `, s.class, template.HTMLEscapeString(s.name))
	}
	b.WriteString(`</div>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func formatUnit(v float64, unit string) string {
	switch unit {
	case "B/s":
		return humanBytes(int64(v)) + "/s"
	case "ms":
		return fmt.Sprintf("%.3g ms", v)
	}
	return fmt.Sprintf("%.3g %s", v, unit)
}

func minuteLabels(sum adminapi.SummaryReport) []string {
	labels := make([]string, len(sum.Minutes))
	for i, m := range sum.Minutes {
		if (len(sum.Minutes)-1-i)%15 == 0 {
			labels[i] = m.Start.Format("15:04")
		}
	}
	return labels
}

func throughputChart(sum adminapi.SummaryReport) template.HTML {
	p := series{name: "produce", class: "s1"}
	f := series{name: "fetch", class: "s2"}
	for _, m := range sum.Minutes {
		p.points = append(p.points, m.ProduceBytesPerSec)
		f.points = append(f.points, m.FetchBytesPerSec)
	}
	return lineChart("throughput, bytes per second", "B/s", minuteLabels(sum), []series{p, f})
}

func latencyChart(sum adminapi.SummaryReport) template.HTML {
	avg := series{name: "produce avg", class: "s1"}
	p99 := series{name: "produce p99", class: "s3"}
	for _, m := range sum.Minutes {
		avg.points = append(avg.points, m.ProduceLatencyAvgMs)
		p99.points = append(p99.points, m.ProduceLatencyP99Ms)
	}
	return lineChart("produce latency, milliseconds", "ms", minuteLabels(sum), []series{avg, p99})
}

// lagChart draws one bar per partition.
func lagChart(g adminapi.Group) template.HTML {
	var peak int64
	for _, o := range g.Offsets {
		if o.Lag != nil {
			peak = max(peak, *o.Lag)
		}
	}
	n := len(g.Offsets)
	if n == 0 {
		return ""
	}
	top := niceCeil(float64(peak))
	h := 140
	barW := math.Min(48, float64(chartW-padL-8)/float64(n))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="lag per partition">`, chartW, h+padB+padT)
	for i := 0; i <= 2; i++ {
		y := float64(padT) + float64(h)*float64(i)/2
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-8, y, y)
		if v := top * float64(2-i) / 2; v == math.Trunc(v) {
			fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%.0f</text>`, padL-6, y+4, v)
		}
	}
	for i, o := range g.Offsets {
		var lag int64
		if o.Lag != nil {
			lag = *o.Lag
		}
		bh := float64(h) * float64(lag) / top
		x := float64(padL) + float64(i)*barW
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s/%d lag %d</title></rect>`,
			x+2, float64(padT+h)-bh, barW-4, bh, template.HTMLEscapeString(o.Topic), o.Partition, lag)
		if n <= 32 {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%d</text>`, x+barW/2, h+padT+padB-6, o.Partition)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// timelineChart draws an event query's timeline as one bar per bucket.
func timelineChart(res *query.Result) template.HTML {
	if res == nil || len(res.Timeline) == 0 {
		return ""
	}
	var peak int64
	for _, b := range res.Timeline {
		peak = max(peak, b.Count)
	}
	top := niceCeil(float64(peak))
	if top == 0 {
		top = 1
	}
	h := 140
	n := len(res.Timeline)
	barW := float64(chartW-padL-8) / float64(n)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="events per bucket">`, chartW, h+padB+padT)
	for i := 0; i <= 2; i++ {
		y := float64(padT) + float64(h)*float64(i)/2
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-8, y, y)
		if v := top * float64(2-i) / 2; v == math.Trunc(v) {
			fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%.0f</text>`, padL-6, y+4, v)
		}
	}
	step := max(n/6, 1)
	for i, bk := range res.Timeline {
		bh := float64(h) * float64(bk.Count) / top
		x := float64(padL) + float64(i)*barW
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`,
			x+1, float64(padT+h)-bh, max(barW-2, 1), bh, bk.Start.UTC().Format("15:04:05"), bk.Count)
		if i%step == 0 {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="start">%s</text>`, x, h+padT+padB-6, bk.Start.UTC().Format("15:04"))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
