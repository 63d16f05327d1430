package auth

import "testing"

func TestParsePrincipal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Principal
		ok   bool
	}{
		{"User:alice", User("alice"), true},
		{"User:a:b", Principal{"User", "a:b"}, true},
		{"Group:ops", Principal{"Group", "ops"}, true},
		{"alice", Principal{}, false},
		{"User:", Principal{}, false},
		{":alice", Principal{}, false},
	} {
		got, err := ParsePrincipal(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePrincipal(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}
