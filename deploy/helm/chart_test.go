// Package helm tests the Helm chart in ./sluice: Helm's own linter, and
// the objects it renders (through Helm's template engine, as `helm
// template` does) decoded strictly into Kubernetes' API types, so a
// misspelt field or a wrong type fails here rather than at install.
//
// It is a module of its own, so Helm's and Kubernetes' packages are not
// dependencies of the agent: run it with `make helm-test`.
package helm

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "sluice"

// render renders the chart with values as release "prod" in namespace
// "data", returning each object's YAML by kind and name.
func render(t *testing.T, values map[string]any) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := util.ToRenderValues(ch, values, common.ReleaseOptions{Name: "prod", Namespace: "data", IsInstall: true}, common.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for name, body := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		for _, doc := range strings.Split(body, "\n---") {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var head struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, doc)
			}
			key := head.Kind + "/" + head.Metadata.Name
			if _, dup := out[key]; dup {
				t.Fatalf("%s rendered twice", key)
			}
			out[key] = doc
		}
	}
	return out, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// decode unmarshals YAML into v, refusing unknown fields.
func decode(t *testing.T, doc string, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
		t.Fatalf("%v in\n%s", err, doc)
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

var urls = map[string]any{"bucketURL": "s3://b?region=us-east-1", "metadataURL": "postgres://u:p@db:5432/sluice"}

func with(extra map[string]any) map[string]any {
	v := map[string]any{}
	for k, x := range urls {
		v[k] = x
	}
	for k, x := range extra {
		v[k] = x
	}
	return v
}

func TestChartLints(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"defaults": urls,
		"zones":    with(map[string]any{"zones": []any{"a", "b", "c"}, "serviceMonitor": map[string]any{"enabled": true}}),
	} {
		res := lint.RunAll(chartDir, values, "data")
		for _, m := range res.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("%s: lint: %s", name, m)
			}
		}
	}
}

// Without zones: one Deployment spread over zones; with zones: one per
// zone, pinned to it and told its zone, all selected by the one Service
// and PodDisruptionBudget.
func TestChartRendersAgents(t *testing.T) {
	objs, err := render(t, urls)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Deployment/prod-sluice", "PodDisruptionBudget/prod-sluice", "Secret/prod-sluice", "Service/prod-sluice", "ServiceAccount/prod-sluice"}
	if got := keys(objs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("objects %v, want %v", got, want)
	}
	var d appsv1.Deployment
	decode(t, objs["Deployment/prod-sluice"], &d)
	pod := d.Spec.Template.Spec
	if len(pod.TopologySpreadConstraints) != 1 || pod.TopologySpreadConstraints[0].TopologyKey != "topology.kubernetes.io/zone" {
		t.Errorf("no zone spread: %+v", pod.TopologySpreadConstraints)
	}
	c := pod.Containers[0]
	if c.Image != "registry.example.com/sluice:0.1.0" || fmt.Sprint(c.Args) != "[agent]" {
		t.Errorf("image %q args %v", c.Image, c.Args)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: readiness %+v liveness %+v", c.ReadinessProbe, c.LivenessProbe)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["SLUICE_ADVERTISE_ADDR"] != "$(POD_IP):9092" || env["SLUICE_KAFKA_ADDR"] != "0.0.0.0:9092" || env["SLUICE_HTTP_ADDR"] != "0.0.0.0:8080" {
		t.Errorf("env %v", env)
	}
	if _, ok := env["SLUICE_ZONE"]; ok {
		t.Errorf("an agent without zones is given one: %v", env)
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= 30 {
		t.Errorf("termination grace %v must exceed the agent's 30s shutdown timeout", pod.TerminationGracePeriodSeconds)
	}
	var s corev1.Secret
	decode(t, objs["Secret/prod-sluice"], &s)
	if s.StringData["SLUICE_BUCKET_URL"] != urls["bucketURL"] || s.StringData["SLUICE_METADATA_URL"] != urls["metadataURL"] {
		t.Errorf("secret %v", s.StringData)
	}
	if c.EnvFrom[0].SecretRef.Name != s.Name {
		t.Errorf("agents read secret %q, chart made %q", c.EnvFrom[0].SecretRef.Name, s.Name)
	}
	var svc corev1.Service
	decode(t, objs["Service/prod-sluice"], &svc)
	var pdb policyv1.PodDisruptionBudget
	decode(t, objs["PodDisruptionBudget/prod-sluice"], &pdb)
	for what, sel := range map[string]map[string]string{"service": svc.Spec.Selector, "pdb": pdb.Spec.Selector.MatchLabels} {
		for k, v := range sel {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("%s selects %s=%s, which the agents lack (%v)", what, k, v, d.Spec.Template.Labels)
			}
		}
	}

	objs, err = render(t, with(map[string]any{"zones": []any{"us-east-1a", "us-east-1b"}, "existingSecret": "mine",
		"serviceMonitor": map[string]any{"enabled": true}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := objs["Secret/prod-sluice"]; ok {
		t.Error("a Secret was made although existingSecret names one")
	}
	for _, zone := range []string{"us-east-1a", "us-east-1b"} {
		doc, ok := objs["Deployment/prod-sluice-"+zone]
		if !ok {
			t.Fatalf("no Deployment for %s: %v", zone, keys(objs))
		}
		var d appsv1.Deployment
		decode(t, doc, &d)
		pod := d.Spec.Template.Spec
		if pod.NodeSelector["topology.kubernetes.io/zone"] != zone {
			t.Errorf("%s: nodeSelector %v", zone, pod.NodeSelector)
		}
		found := false
		for _, e := range pod.Containers[0].Env {
			found = found || (e.Name == "SLUICE_ZONE" && e.Value == zone)
		}
		if !found || pod.Containers[0].EnvFrom[0].SecretRef.Name != "mine" {
			t.Errorf("%s: env %v envFrom %v", zone, pod.Containers[0].Env, pod.Containers[0].EnvFrom)
		}
		for k, v := range d.Spec.Selector.MatchLabels {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("%s: selector %v does not match the pod labels %v", zone, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
			}
		}
	}
	var sm struct {
		Spec struct {
			Endpoints []struct{ Port, Path, Interval string } `json:"endpoints"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(objs["ServiceMonitor/prod-sluice"]), &sm); err != nil || len(sm.Spec.Endpoints) != 1 ||
		sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("service monitor: %+v, %v\n%s", sm, err, objs["ServiceMonitor/prod-sluice"])
	}
}

func TestChartRefusesMissingStorage(t *testing.T) {
	_, err := render(t, map[string]any{"bucketURL": "s3://b"})
	if err == nil || !strings.Contains(err.Error(), "set existingSecret, or both bucketURL and metadataURL") {
		t.Fatalf("render without a metadata URL: %v", err)
	}
}
