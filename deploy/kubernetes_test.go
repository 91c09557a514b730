package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// object is one decoded Kubernetes manifest document.
type object map[string]any

// dig walks nested maps and lists: keys for maps, ints for lists. It returns
// nil when a step is missing.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func (o object) kind() string { s, _ := o["kind"].(string); return s }
func (o object) name() string { s, _ := dig(map[string]any(o), "metadata", "name").(string); return s }

// decodeAll decodes every document of a multi-document YAML file.
func decodeAll(data []byte) ([]object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []object
	for {
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if o != nil {
			out = append(out, o)
		}
	}
}

// manifests decodes every YAML file of deploy/kubernetes, by file name.
func manifests(t *testing.T) map[string][]object {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deploy", "kubernetes")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]object{}
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			t.Errorf("deploy/kubernetes/%s: only .yaml manifests belong here", e.Name())
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeAll(data)
		if err != nil {
			t.Errorf("deploy/kubernetes/%s: %v", e.Name(), err)
			continue
		}
		if len(objs) == 0 {
			t.Errorf("deploy/kubernetes/%s: no documents", e.Name())
		}
		for i, o := range objs {
			if o["apiVersion"] == nil || o.kind() == "" {
				t.Errorf("deploy/kubernetes/%s document %d: no apiVersion or kind", e.Name(), i)
			}
			if o.kind() != "Kustomization" && o.name() == "" {
				t.Errorf("deploy/kubernetes/%s document %d: no metadata.name", e.Name(), i)
			}
		}
		out[e.Name()] = objs
	}
	return out
}

// byKind returns the one object of a kind, failing if there is not exactly one.
func byKind(t *testing.T, all map[string][]object, kind string) object {
	t.Helper()
	var found []object
	for _, objs := range all {
		for _, o := range objs {
			if o.kind() == kind {
				found = append(found, o)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s manifest, found %d", kind, len(found))
	}
	return found[0]
}

func TestKustomizationListsEveryFile(t *testing.T) {
	all := manifests(t)
	k := byKind(t, all, "Kustomization")
	var listed []string
	for _, r := range dig(map[string]any(k), "resources").([]any) {
		listed = append(listed, r.(string))
	}
	var files []string
	for name := range all {
		if name != "kustomization.yaml" && !strings.HasSuffix(name, ".example.yaml") {
			files = append(files, name)
		}
	}
	sort.Strings(files)
	got := slices.Clone(listed)
	sort.Strings(got)
	if !slices.Equal(got, files) {
		t.Errorf("kustomization resources %v, want every manifest file %v", listed, files)
	}
	if ns, _ := k["namespace"].(string); ns == "" {
		t.Error("kustomization sets no namespace")
	} else if n := byKind(t, all, "Namespace"); n.name() != ns {
		t.Errorf("kustomization namespace %q but namespace.yaml creates %q", ns, n.name())
	}
}

func TestDeployment(t *testing.T) {
	all := manifests(t)
	d := map[string]any(byKind(t, all, "Deployment"))
	spec := dig(d, "spec")
	if r := dig(spec, "replicas"); r != 1 {
		t.Errorf("replicas = %v, want 1 (the journal has one writer)", r)
	}
	if s := dig(spec, "strategy", "type"); s != "Recreate" {
		t.Errorf("strategy = %v, want Recreate (a rolling update would run two writers at once)", s)
	}
	pod := dig(spec, "template", "spec")
	if dig(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if u, _ := dig(pod, "securityContext", "runAsUser").(int); u == 0 {
		t.Error("pod securityContext.runAsUser is unset or root")
	}
	if dig(pod, "securityContext", "fsGroup") == nil {
		t.Error("pod securityContext.fsGroup unset: the nonroot user could not write a fresh volume")
	}
	containers, _ := dig(pod, "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("want one container, got %d", len(containers))
	}
	c := containers[0]
	if !reflect.DeepEqual(dig(c, "args"), []any{"run", "--config", "/etc/earshot/earshot.yaml"}) {
		t.Errorf("args = %v", dig(c, "args"))
	}
	if dig(c, "ports", 0, "containerPort") != 8080 || dig(c, "ports", 0, "name") != "http" {
		t.Errorf("ports = %v, want http 8080", dig(c, "ports"))
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := dig(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path = %v, want %s", probe, got, path)
		}
		if got := dig(c, probe, "httpGet", "port"); got != "http" && got != 8080 {
			t.Errorf("%s port = %v, want the http port", probe, got)
		}
	}
	sc := dig(c, "securityContext")
	for key, want := range map[string]any{"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "runAsNonRoot": true} {
		if got := dig(sc, key); got != want {
			t.Errorf("container securityContext.%s = %v, want %v", key, got, want)
		}
	}
	if !reflect.DeepEqual(dig(sc, "capabilities", "drop"), []any{"ALL"}) {
		t.Error("container does not drop ALL capabilities")
	}
	for _, key := range []string{"requests/cpu", "requests/memory", "limits/memory"} {
		a, b, _ := strings.Cut(key, "/")
		if dig(c, "resources", a, b) == nil {
			t.Errorf("resources.%s.%s unset", a, b)
		}
	}

	// Volumes: the PVC at the data dir (the image's VOLUME and the config's
	// data_dir), the config at /etc/earshot, a writable /tmp.
	mounts := map[string]string{} // mountPath -> volume name
	for _, m := range dig(c, "volumeMounts").([]any) {
		mounts[dig(m, "mountPath").(string)] = dig(m, "name").(string)
	}
	vols := map[string]any{}
	for _, v := range dig(pod, "volumes").([]any) {
		vols[dig(v, "name").(string)] = v
	}
	pvc := byKind(t, all, "PersistentVolumeClaim")
	if got := dig(vols[mounts["/var/lib/earshot"]], "persistentVolumeClaim", "claimName"); got != pvc.name() {
		t.Errorf("/var/lib/earshot is not the PVC %q (got %v)", pvc.name(), got)
	}
	if !slices.Contains(anyStrings(dig(map[string]any(pvc), "spec", "accessModes")), "ReadWriteOnce") {
		t.Error("the PVC is not ReadWriteOnce")
	}
	if _, ok := mounts["/tmp"]; !ok {
		t.Error("no /tmp mount: the root filesystem is read-only")
	}
	cfgVol := vols[mounts["/etc/earshot"]]
	if cfgVol == nil {
		t.Fatal("nothing mounted at /etc/earshot")
	}
	cm := byKind(t, all, "ConfigMap")
	sec := byKind(t, all, "Secret")
	var cmOK bool
	secretPaths := map[string]string{} // key -> path
	for _, src := range dig(cfgVol, "projected", "sources").([]any) {
		if dig(src, "configMap", "name") == cm.name() {
			for _, it := range dig(src, "configMap", "items").([]any) {
				if dig(it, "key") == "earshot.yaml" && dig(it, "path") == "earshot.yaml" {
					cmOK = true
				}
			}
		}
		if dig(src, "secret", "name") == sec.name() {
			for _, it := range dig(src, "secret", "items").([]any) {
				secretPaths[dig(it, "key").(string)] = dig(it, "path").(string)
			}
		}
	}
	if !cmOK {
		t.Errorf("/etc/earshot/earshot.yaml does not come from ConfigMap %s", cm.name())
	}
	// Every secret key is mounted, and every *_file in the config names one.
	for key := range dig(map[string]any(sec), "stringData").(map[string]any) {
		if _, ok := secretPaths[key]; !ok {
			t.Errorf("Secret key %q is not mounted", key)
		}
	}
	cfgText, _ := dig(map[string]any(cm), "data", "earshot.yaml").(string)
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cfgText), &cfg); err != nil {
		t.Fatalf("ConfigMap earshot.yaml: %v", err)
	}
	if cfg["data_dir"] != "/var/lib/earshot" {
		t.Errorf("config data_dir = %v, want /var/lib/earshot (the PVC)", cfg["data_dir"])
	}
	if cfg["listen"] != ":8080" {
		t.Errorf("config listen = %v, want :8080", cfg["listen"])
	}
	files := fileKeys(cfg)
	if len(files) == 0 {
		t.Error("the config reads no secret from a file")
	}
	mounted := map[string]bool{}
	for _, p := range secretPaths {
		mounted[p] = true
	}
	for _, f := range files {
		if !mounted[f] {
			t.Errorf("config reads %s but the Secret mounts no such path (have %v)", f, secretPaths)
		}
	}
	// No secret in the ConfigMap: every key that names a secret uses _file.
	for _, k := range []string{"bot_token", "signing_secret", "access_token", "app_token", "password", "public_key"} {
		if strings.Contains(cfgText, k+":") {
			t.Errorf("the ConfigMap carries %s inline; use %s_file and the Secret", k, k)
		}
	}
}

// fileKeys returns the values of every *_file key in a decoded config.
func fileKeys(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && strings.HasSuffix(k, "_file") {
				out = append(out, s)
			}
			out = append(out, fileKeys(val)...)
		}
	case []any:
		for _, val := range x {
			out = append(out, fileKeys(val)...)
		}
	}
	sort.Strings(out)
	return out
}

func anyStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func TestServiceAndServiceMonitor(t *testing.T) {
	all := manifests(t)
	d := byKind(t, all, "Deployment")
	podLabels := dig(map[string]any(d), "spec", "template", "metadata", "labels").(map[string]any)
	if !reflect.DeepEqual(dig(map[string]any(d), "spec", "selector", "matchLabels"), podLabels) {
		t.Error("Deployment selector does not match its pod labels")
	}
	svc := byKind(t, all, "Service")
	for k, v := range dig(map[string]any(svc), "spec", "selector").(map[string]any) {
		if podLabels[k] != v {
			t.Errorf("Service selector %s=%v does not select the pods", k, v)
		}
	}
	if dig(map[string]any(svc), "spec", "ports", 0, "name") != "http" || dig(map[string]any(svc), "spec", "ports", 0, "port") != 8080 {
		t.Errorf("Service ports = %v, want http 8080", dig(map[string]any(svc), "spec", "ports"))
	}
	sm := map[string]any(byKind(t, all, "ServiceMonitor"))
	if sm["apiVersion"] != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion = %v", sm["apiVersion"])
	}
	svcLabels := dig(map[string]any(svc), "metadata", "labels").(map[string]any)
	for k, v := range dig(sm, "spec", "selector", "matchLabels").(map[string]any) {
		if svcLabels[k] != v {
			t.Errorf("ServiceMonitor selector %s=%v does not select the Service", k, v)
		}
	}
	if dig(sm, "spec", "endpoints", 0, "port") != "http" || dig(sm, "spec", "endpoints", 0, "path") != "/metrics" {
		t.Errorf("ServiceMonitor endpoint = %v, want port http path /metrics", dig(sm, "spec", "endpoints", 0))
	}
	// The EarshotDown alert selects job="earshot": the job label comes from
	// the Service label named by jobLabel.
	jl, _ := dig(sm, "spec", "jobLabel").(string)
	if svcLabels[jl] != "earshot" {
		t.Errorf("ServiceMonitor jobLabel %q gives job=%v, the alerts expect job=\"earshot\"", jl, svcLabels[jl])
	}
}

// prometheusRuleDoc renders kubernetes/prometheusrule.yaml from alerts.yml.
func prometheusRuleDoc(t *testing.T) []byte {
	t.Helper()
	var src yaml.Node
	if err := yaml.Unmarshal(readFile(t, "deploy/prometheus/alerts.yml"), &src); err != nil {
		t.Fatal(err)
	}
	var groups *yaml.Node
	root := src.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "groups" {
			groups = root.Content[i+1]
		}
	}
	if groups == nil {
		t.Fatal("alerts.yml has no groups")
	}
	doc := map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata": map[string]any{
			"name":   "earshot",
			"labels": map[string]any{"app.kubernetes.io/name": "earshot"},
		},
		"spec": map[string]any{"groups": groups},
	}
	var buf bytes.Buffer
	buf.WriteString("# GENERATED from deploy/prometheus/alerts.yml by `go test ./deploy -run TestPrometheusRule -update`.\n" +
		"# Do not edit: edit alerts.yml and regenerate. Needs the Prometheus Operator's CRDs.\n" +
		"# Your Prometheus's ruleSelector may require more labels (e.g. release: <name>).\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	enc.Close()
	return buf.Bytes()
}

func TestPrometheusRuleEqualsAlerts(t *testing.T) {
	path := filepath.Join(repoRoot(t), "deploy", "kubernetes", "prometheusrule.yaml")
	if *update {
		if err := os.WriteFile(path, prometheusRuleDoc(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, prometheusRuleDoc(t)) {
		t.Errorf("kubernetes/prometheusrule.yaml is not what alerts.yml generates (err %v): run `go test ./deploy -run TestPrometheusRule -update`", err)
	}
	pr := map[string]any(byKind(t, manifests(t), "PrometheusRule"))
	if pr["apiVersion"] != "monitoring.coreos.com/v1" {
		t.Errorf("PrometheusRule apiVersion = %v", pr["apiVersion"])
	}
	var alerts map[string]any
	if err := yaml.Unmarshal(readFile(t, "deploy/prometheus/alerts.yml"), &alerts); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dig(pr, "spec", "groups"), alerts["groups"]) {
		t.Error("kubernetes/prometheusrule.yaml's groups differ from prometheus/alerts.yml: run `go test ./deploy -run TestPrometheusRule -update`")
	}
}

// Kustomize renders the directory: every listed file exists and parses
// as Kubernetes objects, and the namespace, labels and image tag apply.
// It runs kustomize's own library (the engine inside `kubectl apply -k`),
// so it needs no kubectl and runs on every machine.
func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).
		Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), "deploy", "kubernetes"))
	if err != nil {
		t.Fatalf("kustomize build deploy/kubernetes: %v", err)
	}
	out, err := resources.AsYaml()
	if err != nil {
		t.Fatalf("kustomize build deploy/kubernetes: render: %v", err)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.kind()] = true
		if o.kind() != "Namespace" && dig(map[string]any(o), "metadata", "namespace") != "earshot" {
			t.Errorf("%s/%s rendered without namespace earshot", o.kind(), o.name())
		}
		if dig(map[string]any(o), "metadata", "labels", "app.kubernetes.io/part-of") != "earshot" {
			t.Errorf("%s/%s rendered without the part-of label", o.kind(), o.name())
		}
		if o.kind() == "Deployment" {
			img, _ := dig(map[string]any(o), "spec", "template", "spec", "containers", 0, "image").(string)
			if tag, ok := strings.CutPrefix(img, "ghcr.io/earshot-dev/earshot:"); !ok || !releaseTag.MatchString(tag) {
				t.Errorf("rendered image = %v, want ghcr.io/earshot-dev/earshot pinned to a release (vX.Y.Z)", img)
			}
		}
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "ServiceMonitor", "PrometheusRule"} {
		if !kinds[k] {
			t.Errorf("kustomize rendered no %s", k)
		}
	}
	// The Secret is the operator's: an apply must never create or
	// overwrite it with the example's placeholders.
	if kinds["Secret"] {
		t.Error("kustomize renders a Secret: an apply would overwrite the one made by hand")
	}
}

// releaseTag is a pinned release tag (not latest, not a branch).
var releaseTag = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

// The image tag is pinned, and the Deployment names the same tag the
// kustomization pins, so applying deployment.yaml alone runs it too.
func TestImageTagIsPinned(t *testing.T) {
	all := manifests(t)
	k := map[string]any(byKind(t, all, "Kustomization"))
	tag, _ := dig(k, "images", 0, "newTag").(string)
	if !releaseTag.MatchString(tag) {
		t.Errorf("kustomization images[0].newTag = %q, want a release such as v1.2.3 (latest with IfNotPresent runs whatever a node pulled first)", tag)
	}
	img := dig(map[string]any(byKind(t, all, "Deployment")), "spec", "template", "spec", "containers", 0, "image")
	if img != "ghcr.io/earshot-dev/earshot:"+tag {
		t.Errorf("deployment image %v, kustomization pins %s", img, tag)
	}
}
