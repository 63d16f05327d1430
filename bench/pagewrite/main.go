// Command pagewrite measures what writing new files into the page cache
// costs on this machine, by write size: it writes -mib MiB into new files
// of 4 MiB in writes of each -chunks size, -rounds times in alternation,
// and prints the system CPU time of each run. Before each run it frees
// -free MiB of memory it touched and waits -settle, so the kernel can hand
// that memory back to a hypervisor that takes it (free page reporting, as
// Firecracker's balloon does). On such a machine large writes, which the
// page cache fills with large folios, find their memory handed back and
// cost several times more system time than small ones; on others the
// sizes cost about the same. A benchmark tool (docs/performance.md).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("dir", ".", "directory for the files (removed after each run)")
	mib := flag.Int("mib", 512, "MiB written per run")
	chunks := flag.String("chunks", "65536,4194304", "write sizes in bytes, comma-separated")
	rounds := flag.Int("rounds", 5, "runs per write size")
	free := flag.Int("free", 1024, "MiB of memory touched and freed before each run")
	settle := flag.Duration("settle", 8*time.Second, "wait after freeing, before writing")
	flag.Parse()

	var sizes []int
	for _, s := range strings.Split(*chunks, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || (4<<20)%n != 0 {
			log.Fatalf("write size %q: want a positive divisor of 4 MiB", s)
		}
		sizes = append(sizes, n)
	}
	results := make(map[int][]time.Duration)
	for r := 0; r < *rounds; r++ {
		for _, n := range sizes {
			touchAndFree(*free << 20)
			time.Sleep(*settle)
			d, err := writeFiles(filepath.Join(*dir, "pagewrite.tmp"), *mib<<20, n)
			if err != nil {
				log.Fatal(err)
			}
			results[n] = append(results[n], d)
			fmt.Printf("round %d write %d B: system %v\n", r+1, n, d.Round(time.Millisecond))
		}
	}
	for _, n := range sizes {
		ds := results[n]
		slices.Sort(ds)
		fmt.Printf("write %d B: median system %v over %d runs\n", n, ds[len(ds)/2].Round(time.Millisecond), len(ds))
	}
}

// systemTime is this process's system CPU time so far.
func systemTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Stime.Nano())
}

// touchAndFree maps n bytes, writes each page and unmaps them.
func touchAndFree(n int) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		log.Fatal(err)
	}
	for i := 0; i < n; i += os.Getpagesize() {
		b[i] = 1
	}
	_ = syscall.Munmap(b)
}

// writeFiles writes total bytes into new 4 MiB files under dir in writes
// of chunk bytes, returns the system time it took and removes dir.
func writeFiles(dir string, total, chunk int) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	buf := make([]byte, 4<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	start := systemTime()
	for i := 0; i < total/len(buf); i++ {
		f, err := os.Create(filepath.Join(dir, strconv.Itoa(i)))
		if err != nil {
			return 0, err
		}
		for off := 0; off < len(buf); off += chunk {
			if _, err := f.Write(buf[off : off+chunk]); err != nil {
				return 0, err
			}
		}
		if err := f.Close(); err != nil {
			return 0, err
		}
	}
	return systemTime() - start, nil
}
