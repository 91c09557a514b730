package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomizeBuild renders a directory of deploy/ with kustomize's library.
func kustomizeBuild(t *testing.T, dir string) []object {
	t.Helper()
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).
		Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot(t), "deploy", dir))
	if err != nil {
		t.Fatalf("kustomize build deploy/%s: %v", dir, err)
	}
	out, err := resources.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find(objs []object, kind, name string) object {
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	return nil
}

// The HA overlay renders three Earshot replicas in a StatefulSet (no
// Deployment or shared PVC left from the base), ready only on /readyz (the
// leader), a PodDisruptionBudget that keeps two of them, the headless
// Service, and a config whose store is the NATS cluster; the config passes
// `earshot check --offline`.
func TestKubernetesHA(t *testing.T) {
	t.Parallel()
	objs := kustomizeBuild(t, "kubernetes-ha")
	if find(objs, "Deployment", "earshot") != nil || find(objs, "PersistentVolumeClaim", "earshot-data") != nil {
		t.Error("the HA overlay still renders the single-writer Deployment or its PVC")
	}
	sts := find(objs, "StatefulSet", "earshot")
	if sts == nil {
		t.Fatal("no StatefulSet earshot")
	}
	s := map[string]any(sts)
	if dig(s, "spec", "replicas") != 3 {
		t.Errorf("replicas = %v, want 3", dig(s, "spec", "replicas"))
	}
	if dig(s, "metadata", "namespace") != "earshot" {
		t.Error("the StatefulSet is not in namespace earshot")
	}
	c := dig(s, "spec", "template", "spec", "containers", 0)
	if dig(c, "readinessProbe", "httpGet", "path") != "/readyz" {
		t.Error("readiness is not /readyz: a standby would get webhooks")
	}
	if dig(c, "env", 0, "name") != "POD_NAME" {
		t.Error("no POD_NAME for store.name")
	}
	if dig(s, "spec", "volumeClaimTemplates", 0, "metadata", "name") != "data" {
		t.Error("no volume per replica for the connectors' state")
	}
	pod := dig(s, "spec", "template", "metadata", "labels").(map[string]any)
	pdb := find(objs, "PodDisruptionBudget", "earshot")
	if pdb == nil || dig(map[string]any(pdb), "spec", "maxUnavailable") != 1 {
		t.Fatalf("PodDisruptionBudget earshot with maxUnavailable 1: %v", pdb)
	}
	for k, v := range dig(map[string]any(pdb), "spec", "selector", "matchLabels").(map[string]any) {
		if pod[k] != v {
			t.Errorf("the PodDisruptionBudget selects %s=%v, not the pods", k, v)
		}
	}
	if h := find(objs, "Service", "earshot-pods"); h == nil || dig(map[string]any(h), "spec", "clusterIP") != "None" {
		t.Error("no headless Service earshot-pods")
	}
	if dig(s, "spec", "serviceName") != "earshot-pods" {
		t.Error("the StatefulSet is not governed by earshot-pods")
	}

	cm := find(objs, "ConfigMap", "earshot-config")
	text, _ := dig(map[string]any(cm), "data", "earshot.yaml").(string)
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatal(err)
	}
	if dig(cfg, "store", "kind") != "nats" || !strings.Contains(dig(cfg, "store", "url").(string), "nats-0.nats-headless:4222") {
		t.Errorf("store = %v", cfg["store"])
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "earshot.yaml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range fileKeys(cfg) {
		p := filepath.Join(dir, filepath.FromSlash(f))
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, []byte("xoxb-placeholder-for-check\n"), 0o600)
	}
	bin := buildLikeDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "check", "--offline", "--config", filepath.Join(dir, "earshot.yaml"))
	cmd.Env = append(os.Environ(), "POD_NAME=earshot-0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("earshot check --offline on the HA config: %v\n%s", err, out)
	}
}

// The NATS example is a 3-node JetStream cluster whose routes name every
// node, with a volume per node and a PodDisruptionBudget.
func TestKubernetesNATSExample(t *testing.T) {
	t.Parallel()
	objs := kustomizeBuild(t, "kubernetes-ha/nats")
	sts := find(objs, "StatefulSet", "nats")
	if sts == nil || dig(map[string]any(sts), "spec", "replicas") != 3 {
		t.Fatalf("StatefulSet nats with 3 replicas: %v", sts)
	}
	if dig(map[string]any(sts), "spec", "volumeClaimTemplates", 0, "metadata", "name") != "data" {
		t.Error("no volume per NATS node")
	}
	conf, _ := dig(map[string]any(find(objs, "ConfigMap", "nats-config")), "data", "nats.conf").(string)
	for _, want := range []string{"jetstream", "store_dir: /data", "nats://nats-0.nats-headless:6222", "nats://nats-1.nats-headless:6222", "nats://nats-2.nats-headless:6222", "pid_file: /var/run/nats/nats.pid"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nats.conf lacks %q", want)
		}
	}
	if find(objs, "PodDisruptionBudget", "nats") == nil || find(objs, "Service", "nats") == nil || find(objs, "Service", "nats-headless") == nil {
		t.Error("the NATS example lacks its PodDisruptionBudget or Services")
	}
}

// The compose ha profile: three NATS nodes with JetStream routed to each
// other, two Earshot replicas on the same config (which passes `earshot
// check --offline`), and HAProxy routing to the replica whose /readyz is
// 200; none of it starts without --profile ha.
func TestComposeHAProfile(t *testing.T) {
	t.Parallel()
	var c map[string]any
	if err := yaml.Unmarshal(readFile(t, "deploy/compose/compose.yaml"), &c); err != nil {
		t.Fatal(err)
	}
	profile := func(name string) any {
		s := dig(c, "services", name)
		if s == nil {
			t.Fatalf("compose.yaml has no service %s", name)
		}
		if p := anyStrings(dig(s, "profiles")); len(p) != 1 || p[0] != "ha" {
			t.Errorf("%s profiles = %v, want [ha]", name, p)
		}
		return s
	}
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		cmd := strings.Join(anyStrings(dig(profile(n), "command")), " ")
		for _, want := range []string{"--jetstream", "--server_name " + n, "--cluster_name earshot-nats"} {
			if !strings.Contains(cmd, want) {
				t.Errorf("%s command %q lacks %q", n, cmd, want)
			}
		}
		for _, other := range []string{"nats-1", "nats-2", "nats-3"} {
			if other != n && !strings.Contains(cmd, "nats://"+other+":6222") {
				t.Errorf("%s does not route to %s", n, other)
			}
		}
	}
	for _, n := range []string{"earshot-ha-1", "earshot-ha-2"} {
		s := profile(n)
		if cmd := anyStrings(dig(s, "command")); len(cmd) == 0 || cmd[0] != "run" {
			t.Errorf("%s command = %v, want run", n, cmd)
		}
		if src := mountSource(dig(s, "volumes").([]any), "/etc/earshot/earshot.yaml"); src != "./earshot-ha.yaml" {
			t.Errorf("%s config = %q", n, src)
		}
		if dig(s, "environment", "POD_NAME") != n {
			t.Errorf("%s POD_NAME = %v", n, dig(s, "environment", "POD_NAME"))
		}
	}
	profile("haproxy")
	cfg := string(readFile(t, "deploy/compose/haproxy-ha.cfg"))
	for _, want := range []string{"option httpchk GET /readyz", "http-check expect status 200", "server earshot-ha-1 earshot-ha-1:8080 check", "server earshot-ha-2 earshot-ha-2:8080 check"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy-ha.cfg lacks %q", want)
		}
	}

	bin := buildLikeDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "check", "--offline", "--config", filepath.Join(repoRoot(t), "deploy", "compose", "earshot-ha.yaml"))
	cmd.Env = append(os.Environ(), "POD_NAME=earshot-ha-1", "SLACK_BOT_TOKEN=xoxb-placeholder-1", "SLACK_APP_TOKEN=xapp-placeholder-1", "EARSHOT_WEBHOOK_SECRET=placeholder-secret")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("earshot check --offline on earshot-ha.yaml: %v\n%s", err, out)
	}
}
