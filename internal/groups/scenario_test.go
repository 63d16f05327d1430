package groups

// A small data-driven test format for the state machines, in the spirit of
// pebble's datadriven tests (our own code). A file holds directives:
//
//	# comments and blank lines between directives are kept
//	command arg key=value ...
//	----
//	expected output, one or more lines
//
// A directive ends at the first blank line after its "----". Running with
// -rewrite writes the actual output back into the files; review the diff.

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of scenario files")

type directive struct {
	preamble []string // comment and blank lines before the command
	line     int      // 1-based line of the command
	text     string   // the command line as written
	cmd      string
	args     []string          // positional arguments
	kv       map[string]string // key=value arguments
	want     string
}

// has reports whether key was given, as key=value or as a bare flag.
func (d *directive) has(key string) bool {
	if _, ok := d.kv[key]; ok {
		return true
	}
	for _, a := range d.args {
		if a == key {
			return true
		}
	}
	return false
}

func parseScenario(t *testing.T, path string) (ds []*directive, trailer []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var pre []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pre = append(pre, l)
			continue
		}
		d := &directive{preamble: pre, line: i + 1, text: l, kv: map[string]string{}}
		pre = nil
		fs := strings.Fields(l)
		d.cmd = fs[0]
		for _, f := range fs[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				d.kv[k] = v
			} else {
				d.args = append(d.args, f)
			}
		}
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: %q is not followed by ----", path, i+1, l)
		}
		i += 2
		var want []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		if i < len(lines) {
			i-- // the blank line is the next directive's preamble
		}
		d.want = strings.Join(want, "\n")
		ds = append(ds, d)
	}
	return ds, pre
}

// runScenarios runs every file in dir through run, which returns a
// directive's output.
func runScenarios(t *testing.T, dir string, run func(t *testing.T, d *directive) string) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios in %s: %v", dir, err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			ds, trailer := parseScenario(t, path)
			var out strings.Builder
			for _, d := range ds {
				got := strings.TrimRight(run(t, d), "\n")
				if *rewrite {
					for _, p := range d.preamble {
						out.WriteString(p + "\n")
					}
					out.WriteString(d.text + "\n----\n")
					if got != "" {
						out.WriteString(got + "\n")
					}
					continue
				}
				if got != d.want {
					t.Fatalf("%s:%d: %s\ngot:\n%s\nwant:\n%s", path, d.line, d.cmd, got, d.want)
				}
			}
			if *rewrite {
				for _, p := range trailer {
					out.WriteString(p + "\n")
				}
				if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
