package cluster

import (
	"reflect"
	"testing"
)

func TestListeners(t *testing.T) {
	eps := []Endpoint{{"PLAINTEXT", "10.0.0.1", 9092}, {"SASL_SSL", "kafka-1.example.com", 9094}, {"V6", "::1", 9095}}
	s := FormatListeners(eps)
	if s != "PLAINTEXT://10.0.0.1:9092,SASL_SSL://kafka-1.example.com:9094,V6://[::1]:9095" {
		t.Fatalf("FormatListeners = %q", s)
	}
	back, err := ParseListeners(s)
	if err != nil || !reflect.DeepEqual(back, eps) {
		t.Fatalf("ParseListeners = %+v, %v", back, err)
	}
	for _, bad := range []string{"x", "://h:1", "A://h", "A://h:99999"} {
		if _, err := ParseListeners(bad); err == nil {
			t.Errorf("ParseListeners(%q) accepted", bad)
		}
	}
	b := Broker{NodeID: 1, Host: "10.0.0.1", Port: 9092, Listeners: eps}
	if got, ok := b.On("SASL_SSL"); !ok || got.Host != "kafka-1.example.com" || got.Port != 9094 {
		t.Fatalf("On(SASL_SSL) = %+v, %v", got, ok)
	}
	if _, ok := b.On("SSL"); ok {
		t.Fatal("a broker without the listener is offered for it")
	}
	plain := Broker{NodeID: 2, Host: "h", Port: 1}
	if got, ok := plain.On("ANY"); !ok || got.Host != "h" {
		t.Fatal("a broker without listener information keeps its one address")
	}
	if got := OnListener([]Broker{b, plain, {NodeID: 3, Listeners: eps[:1]}}, "SASL_SSL"); len(got) != 2 || got[0].Port != 9094 || got[1].NodeID != 2 {
		t.Fatalf("OnListener = %+v", got)
	}
}
