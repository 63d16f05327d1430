package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// docFlag is one row of a flag table in docs/configuration.md.
type docFlag struct{ name, def string }

var (
	flagCell    = regexp.MustCompile("^\\| `--([a-z0-9-]+)` \\| ([^|]*) \\|")
	backticked  = regexp.MustCompile("^`([^`]*)`")
	sectionHead = regexp.MustCompile("^## ")
)

// docFlags returns the flag rows of the section of docs/configuration.md
// whose heading is head.
func docFlags(t *testing.T, head string) []docFlag {
	t.Helper()
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []docFlag
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if sectionHead.MatchString(line) {
			in = line == head
			continue
		}
		if m := flagCell.FindStringSubmatch(line); in && m != nil {
			rows = append(rows, docFlag{m[1], strings.TrimSpace(m[2])})
		}
	}
	if len(rows) == 0 {
		t.Fatalf("docs/configuration.md: no flag table under %q", head)
	}
	return rows
}

// sameDefault reports whether a documented default (the cell's first
// backticked value, when it has one) equals the flag's default.
func sameDefault(doc string, f *pflag.Flag) bool {
	m := backticked.FindStringSubmatch(doc)
	if m == nil {
		return true // described in words ("none", "the listener address")
	}
	if m[1] == f.DefValue {
		return true
	}
	d1, err1 := time.ParseDuration(m[1])
	d2, err2 := time.ParseDuration(f.DefValue)
	return err1 == nil && err2 == nil && d1 == d2
}

func checkFlagTable(t *testing.T, head string, fs *pflag.FlagSet, skip ...string) {
	t.Helper()
	documented := map[string]bool{}
	for _, row := range docFlags(t, head) {
		documented[row.name] = true
		f := fs.Lookup(row.name)
		if f == nil {
			t.Errorf("%s documents --%s, which the command does not have", head, row.name)
			continue
		}
		if !sameDefault(row.def, f) {
			t.Errorf("%s: --%s default documented as %s, the command's is %q", head, row.name, row.def, f.DefValue)
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if !documented[f.Name] && !slices.Contains(skip, f.Name) && !f.Hidden {
			t.Errorf("%s does not document --%s (%s)", head, f.Name, f.Usage)
		}
	})
}

func subcommand(root *cobra.Command, name string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// TestConfigurationDocListsEveryFlag keeps docs/configuration.md equal to
// the flags of sluice dev, sluice agent and the global flags: every flag
// documented, nothing documented that does not exist, defaults that agree.
func TestConfigurationDocListsEveryFlag(t *testing.T) {
	root := newRoot()
	checkFlagTable(t, "## Global flags", root.PersistentFlags(), "help", "version")
	dev := subcommand(root, "dev")
	checkFlagTable(t, "## `sluice dev`", dev.Flags(), "help")

	// The agent section says: the same flags as sluice dev except
	// --data-dir and --agents, plus --bucket-url and --metadata-url.
	agent := subcommand(root, "agent")
	var want, got []string
	dev.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "data-dir" && f.Name != "agents" {
			want = append(want, f.Name)
		}
	})
	want = append(want, "bucket-url", "metadata-url")
	agent.Flags().VisitAll(func(f *pflag.Flag) { got = append(got, f.Name) })
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("sluice agent's flags are not dev's less --data-dir and --agents plus --bucket-url and --metadata-url, as docs/configuration.md says:\n got %v\nwant %v", got, want)
	}
}

var (
	metricInCode  = regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(sluice_[a-z0-9_]+)"`)
	metricRow     = regexp.MustCompile("^\\| (`sluice_[^|]*) \\|")
	metricInCell  = regexp.MustCompile("`(sluice_[^`]*)`")
	braceSuffix   = regexp.MustCompile(`\{[a-z_,]*\}$`)
	braceInfix    = regexp.MustCompile(`\{([a-z_,]*)\}`)
	metricsHeader = "## Metrics"
)

// codeMetrics returns the names of the Prometheus metrics the code defines
// (every sluice_ name given to a collector's options or a Desc).
func codeMetrics(t *testing.T) map[string]string {
	t.Helper()
	names := map[string]string{}
	for _, root := range []string{"../../internal", "../../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range metricInCode.FindAllStringSubmatch(string(b), -1) {
				names[m[1]] = path
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(names) == 0 {
		t.Fatal("found no metrics in the code")
	}
	return names
}

// docMetrics returns the metric names of the Metrics table, with a
// trailing {labels} dropped and an inner {a,b} expanded to each name.
func docMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if sectionHead.MatchString(line) {
			in = line == metricsHeader
			continue
		}
		m := metricRow.FindStringSubmatch(line)
		if !in || m == nil {
			continue
		}
		for _, c := range metricInCell.FindAllStringSubmatch(m[1], -1) {
			name := braceSuffix.ReplaceAllString(c[1], "")
			if alt := braceInfix.FindStringSubmatchIndex(name); alt != nil {
				for _, a := range strings.Split(name[alt[2]:alt[3]], ",") {
					names[name[:alt[0]]+a+name[alt[1]:]] = true
				}
				continue
			}
			names[name] = true
		}
	}
	return names
}

// TestConfigurationDocListsEveryMetric keeps the Metrics table of
// docs/configuration.md equal to the metrics the code defines.
func TestConfigurationDocListsEveryMetric(t *testing.T) {
	code, doc := codeMetrics(t), docMetrics(t)
	for name, path := range code {
		if !doc[name] {
			t.Errorf("metric %s (%s) is not in docs/configuration.md's Metrics table", name, path)
		}
	}
	for name := range doc {
		if _, ok := code[name]; !ok {
			t.Errorf("docs/configuration.md lists metric %s, which the code does not define", name)
		}
	}
}

// TestDeployMonitoringUsesExistingMetrics checks that the Grafana dashboard
// and the Prometheus alert rules in deploy/ only use metrics the code
// defines (a histogram's _bucket, _sum and _count series included).
func TestDeployMonitoringUsesExistingMetrics(t *testing.T) {
	code := codeMetrics(t)
	used := regexp.MustCompile(`sluice_[a-z0-9_]+`)
	for _, path := range []string{"../../deploy/grafana/sluice-dashboard.json", "../../deploy/prometheus/sluice-alerts.yaml"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		names := used.FindAllString(string(b), -1)
		if len(names) == 0 {
			t.Errorf("%s uses no sluice metric", path)
		}
		for _, name := range names {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok {
					if _, defined := code[b]; defined {
						base = b
					}
				}
			}
			if _, ok := code[base]; !ok {
				t.Errorf("%s uses %s, which the code does not define", path, name)
			}
		}
	}
}
