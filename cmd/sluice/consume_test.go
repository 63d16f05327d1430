package main

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRecordFormat(t *testing.T) {
	r := &kgo.Record{Topic: "t", Partition: 2, Offset: 17, Key: []byte("k"), Value: []byte("v"),
		Timestamp: time.UnixMilli(1700000000123), Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}}}
	for _, tc := range []struct{ format, want string }{
		{defaultConsumeFormat, "2\t17\tk\tv\n"},
		{`%t %p %o %k %v %h %T %%\n`, "t 2 17 k v a=1,b=2 1700000000123 %\n"},
		{`[%k]`, "[k]"},
		{`trailing %`, "trailing %"},
		{`back\slash`, `back\slash`},
	} {
		f, err := parseRecordFormat(tc.format)
		if err != nil {
			t.Fatalf("%q: %v", tc.format, err)
		}
		if got := string(f.append(nil, r)); got != tc.want {
			t.Errorf("format %q: %q, want %q", tc.format, got, tc.want)
		}
	}
	if _, err := parseRecordFormat("%x"); err == nil || !strings.Contains(err.Error(), "%x") {
		t.Errorf("unknown placeholder: %v", err)
	}
}

func TestParseFromTime(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"2023-11-14T22:13:20Z", 1700000000000},
		{"1699999999000", 1699999999000},
		{"15m", 1700000000000 - 15*60*1000},
	} {
		got, err := parseFromTime(tc.in, now)
		if err != nil || got != tc.want {
			t.Errorf("parseFromTime(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"yesterday", "-5m", ""} {
		if _, err := parseFromTime(bad, now); err == nil {
			t.Errorf("parseFromTime(%q) accepted", bad)
		}
	}
}

func TestConsumeOptionsCheck(t *testing.T) {
	ok := consumeOptions{from: "beginning"}
	for _, tc := range []struct {
		name string
		o    consumeOptions
		want string
	}{
		{"bad from", consumeOptions{from: "middle"}, "--from"},
		{"offset without partition", consumeOptions{from: "beginning", offsetSet: true}, "--offset needs --partition"},
		{"offset and time", consumeOptions{from: "beginning", offsetSet: true, partitions: []int32{0}, fromTime: "1h"}, "exclude"},
		{"group and partition", consumeOptions{from: "beginning", group: "g", partitions: []int32{0}}, "exclude"},
		{"group and time", consumeOptions{from: "beginning", group: "g", fromTime: "1h"}, "reset-offsets"},
	} {
		if err := tc.o.check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	if err := ok.check(); err != nil {
		t.Errorf("plain options refused: %v", err)
	}
}
