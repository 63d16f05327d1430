package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedactFlag(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"metadata-url", "postgres://sluice:hunter2@db:5432/sluice?sslmode=disable", "postgres://sluice:xxxxx@db:5432/sluice?sslmode=disable"},
		{"bucket-url", "s3://b?region=us-east-1&secret_access_key=abc", "s3://b?region=us-east-1&secret_access_key=xxxxx"},
		{"bucket-url", "file:///tmp/bucket", "file:///tmp/bucket"},
		{"peer-secret", "abc", "xxxxx"},
		{"zone", "a", "a"},
	} {
		if got := redactFlag(tc.name, tc.value); got != tc.want {
			t.Errorf("redactFlag(%q, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestVersionCommandAndFlag(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !strings.HasPrefix(out.String(), "sluice ") {
			t.Errorf("%v printed %q, want the build line", args, out.String())
		}
	}
}
