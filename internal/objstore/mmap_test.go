package objstore

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMapRange: a local bucket maps any range of an object, at offsets
// inside a page too, through its wrappers; the mapping outlives the file's
// deletion while it is held. Buckets that cannot map say so.
func TestMapRange(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mapping is Linux only")
	}
	ctx := context.Background()
	dir, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3*4096+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := dir.Put(ctx, "a/b", data); err != nil {
		t.Fatal(err)
	}
	for _, b := range []Bucket{dir, Timeout{Bucket: dir}, Instrumented{Bucket: Timeout{Bucket: dir}, M: NewMetrics(nil)}} {
		m := b.(Mapper)
		for _, r := range [][2]int64{{0, 1}, {0, int64(len(data))}, {4095, 2}, {5000, int64(len(data)) - 5000}} {
			got, keep, err := m.MapRange(ctx, "a/b", r[0], r[1])
			if err != nil || keep == nil || !bytes.Equal(got, data[r[0]:r[0]+r[1]]) || cap(got) != len(got) {
				t.Fatalf("%T: MapRange %v: err %v, keep %v, %d bytes (cap %d), equal %v", b, r, err, keep, len(got), cap(got), bytes.Equal(got, data[r[0]:r[0]+r[1]]))
			}
			runtime.KeepAlive(keep)
		}
		if _, _, err := m.MapRange(ctx, "nope", 0, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%T: missing object: %v, want ErrNotFound", b, err)
		}
		if _, _, err := m.MapRange(ctx, "a/b", 10, int64(len(data))); err == nil {
			t.Fatalf("%T: a range past the end mapped", b)
		}
	}
	got, keep, err := dir.(Mapper).MapRange(ctx, "a/b", 100, 5000)
	if err != nil {
		t.Fatal(err)
	}
	keep.(interface{ Drop([]byte) }).Drop(got) // pages given back are read again
	if !bytes.Equal(got, data[100:5100]) {
		t.Fatal("a mapping changed after Drop")
	}
	if err := dir.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	keep.(interface{ Drop([]byte) }).Drop(got)
	if !bytes.Equal(got, data[100:5100]) {
		t.Fatal("a mapping changed after its file was deleted")
	}
	runtime.KeepAlive(keep)

	mem, err := Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []Bucket{Timeout{Bucket: mem}, Instrumented{Bucket: mem, M: NewMetrics(nil)}} {
		if _, _, err := b.(Mapper).MapRange(ctx, "x", 0, 1); !errors.Is(err, ErrNotMappable) {
			t.Fatalf("%T over mem: %v, want ErrNotMappable", b, err)
		}
	}
}

// TestMapRangeBounded: past maxMappings alive, MapRange answers
// ErrNotMappable; mappings nothing holds are unmapped by the garbage
// collector, which makes room again.
func TestMapRangeBounded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("mapping is Linux only")
	}
	ctx := context.Background()
	dir, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Put(ctx, "f", make([]byte, 10000)); err != nil {
		t.Fatal(err)
	}
	// Let earlier tests' mappings go, then allow two more.
	for i := 0; i < 100 && liveMappings.Load() > 0; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	old := maxMappings
	maxMappings = liveMappings.Load() + 2
	defer func() { maxMappings = old }()
	m := dir.(Mapper)
	var keeps []any
	for i := 0; i < 2; i++ {
		_, keep, err := m.MapRange(ctx, "f", 0, 100)
		if err != nil {
			t.Fatalf("mapping %d: %v", i, err)
		}
		keeps = append(keeps, keep)
	}
	if _, _, err := m.MapRange(ctx, "f", 0, 100); !errors.Is(err, ErrNotMappable) {
		t.Fatalf("a mapping past the bound: %v, want ErrNotMappable", err)
	}
	runtime.KeepAlive(keeps)
	for i := 0; ; i++ {
		runtime.GC()
		if _, _, err := m.MapRange(ctx, "f", 0, 100); err == nil {
			break
		} else if i == 200 {
			t.Fatalf("mappings nothing holds were not unmapped: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMaps: a local directory maps on Linux, through the wrappers; a
// bucket that is not one does not.
func TestMaps(t *testing.T) {
	dir, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	want := runtime.GOOS == "linux"
	wrapped := Instrumented{Bucket: Timeout{Bucket: dir, Op: time.Second}, M: NewMetrics(prometheus.NewRegistry())}
	if Maps(dir) != want || Maps(wrapped) != want {
		t.Fatalf("Maps(dir) = %v, Maps(wrapped dir) = %v; want %v", Maps(dir), Maps(wrapped), want)
	}
	if Maps(&Faulty{Bucket: dir}) || Maps(Timeout{Bucket: &Faulty{Bucket: dir}}) {
		t.Fatal("a bucket without MapRange maps")
	}
}
