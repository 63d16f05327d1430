package kafka

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCompatibilityDocMatchesCode checks that docs/compatibility.md lists
// exactly the APIs and version ranges the agent advertises.
func TestCompatibilityDocMatchesCode(t *testing.T) {
	doc, err := os.ReadFile("../../docs/compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| (\w+) \| (\d+) \| (\d+)-(\d+) \|`)
	documented := map[int16]apiRange{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		key, _ := strconv.Atoi(m[2])
		lo, _ := strconv.Atoi(m[3])
		hi, _ := strconv.Atoi(m[4])
		if name := kmsg.NameForKey(int16(key)); name != m[1] {
			t.Errorf("doc row %q: key %d is %s", m[0], key, name)
		}
		documented[int16(key)] = apiRange{int16(lo), int16(hi)}
	}
	if fmt.Sprint(documented) != fmt.Sprint(supported) {
		t.Fatalf("docs/compatibility.md lists %v, the agent advertises %v", documented, supported)
	}
}
