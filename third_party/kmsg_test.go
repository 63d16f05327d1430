// Package thirdparty holds the checks on patched third-party code that
// go.mod's replace directives point at (see kmsg.md).
package thirdparty

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestVendoredKmsgIsUpstreamPlusPatch rebuilds the patched kmsg from the
// upstream release and kmsg.patch, and requires third_party/kmsg to equal it
// byte for byte: the copy carries no change that the patch does not show.
func TestVendoredKmsgIsUpstreamPlusPatch(t *testing.T) {
	out := filepath.Join(t.TempDir(), "kmsg")
	cmd := exec.CommandContext(t.Context(), "bash", "../scripts/vendor-kmsg.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vendor-kmsg.sh: %v\n%s", err, b)
	}
	want := readTree(t, out)
	got := readTree(t, "kmsg")
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: in upstream+patch, missing from third_party/kmsg", name)
		case !bytes.Equal(g, w):
			t.Errorf("%s: differs from upstream+patch; change kmsg.patch, then run scripts/vendor-kmsg.sh", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: in third_party/kmsg, not in upstream+patch", name)
		}
	}
}

func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// failingReader is a kmsg.TagReader over a byte slice that fails, as
// kbin.Reader does, once a read runs past the end.
type failingReader struct {
	b      []byte
	failed bool
	reads  int
}

// errRunaway ends a loop that keeps reading a failed reader: without the
// patch it would count 2^32-1 fields down.
var errRunaway = errors.New("reads went on after the input ended")

func (r *failingReader) Uvarint() uint32 {
	r.reads++
	if r.reads > 100 {
		panic(errRunaway)
	}
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		if len(r.b) == 0 {
			r.failed = true
			return 0
		}
		c := r.b[0]
		r.b = r.b[1:]
		v |= uint32(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.failed = true
	return 0
}

func (r *failingReader) Span(n int) []byte {
	if n > len(r.b) {
		r.failed = true
		r.b = nil
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *failingReader) Ok() bool { return !r.failed }

// A tag section claiming 2^32-1 fields and then ending must stop at the
// failed read, in SkipTags and ReadTags as in the generated decoders.
func TestTagLoopsStopOnFailedReader(t *testing.T) {
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0x0f} // uvarint 2^32-1
	for name, read := range map[string]func(kmsg.TagReader){
		"SkipTags": kmsg.SkipTags,
		"ReadTags": func(r kmsg.TagReader) { kmsg.ReadTags(r) },
	} {
		r := &failingReader{b: bytes.Clone(huge)}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s: %v", name, p)
				}
			}()
			read(r)
		}()
		if r.reads > 3 {
			t.Errorf("%s: %d reads, want the loop to stop at the failure", name, r.reads)
		}
	}
}
