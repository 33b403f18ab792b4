package k8s

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/shopbus/shopbus/host"
)

// hostEnv holds every Env constant of host/config.go, by its Go name: the
// environment variables a shop binary reads (host.ConfigFromEnv). The
// values come from the host package itself, so a renamed constant fails to
// compile, and TestHostEnvListed fails when host/config.go declares one that
// is missing here.
var hostEnv = map[string]string{
	"EnvServices":      host.EnvServices,
	"EnvAMQPURL":       host.EnvAMQPURL,
	"EnvAMQPQueueType": host.EnvAMQPQueueType,
	"EnvAMQPNamespace": host.EnvAMQPNamespace,
	"EnvAMQPExpire":    host.EnvAMQPExpire,
	"EnvMongoURI":      host.EnvMongoURI,
	"EnvDBPrefix":      host.EnvDBPrefix,
	"EnvWorkers":       host.EnvWorkers,
	"EnvWorkersPrefix": host.EnvWorkersPrefix,
	"EnvAdminEmail":    host.EnvAdminEmail,
	"EnvAdminPassword": host.EnvAdminPassword,
	"EnvBcryptCost":    host.EnvBcryptCost,
	"EnvSessionTTL":    host.EnvSessionTTL,
	"EnvHTTPAddr":      host.EnvHTTPAddr,
	"EnvOpsAddr":       host.EnvOpsAddr,
	"EnvBaseURL":       host.EnvBaseURL,
	"EnvDataDir":       host.EnvDataDir,
	"EnvLogLevel":      host.EnvLogLevel,
	"EnvReplica":       host.EnvReplica,
	"EnvSeed":          host.EnvSeed,
	"EnvSeedProducts":  host.EnvSeedProducts,
}

// TestHostEnvListed checks that hostEnv lists every Env constant that
// host/config.go declares.
func TestHostEnvListed(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", "host", "config.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			for _, n := range s.(*ast.ValueSpec).Names {
				if strings.HasPrefix(n.Name, "Env") {
					declared = append(declared, n.Name)
				}
			}
		}
	}
	if len(declared) < 10 {
		t.Fatalf("found only %d Env constants in host/config.go: %v", len(declared), declared)
	}
	for _, n := range declared {
		if _, ok := hostEnv[n]; !ok {
			t.Errorf("host/config.go declares %s: add host.%s to hostEnv", n, n)
		}
	}
	for n := range hostEnv {
		if !slices.Contains(declared, n) {
			t.Errorf("hostEnv lists %s, which host/config.go does not declare", n)
		}
	}
}

// The Deployments of each topology, by their app.kubernetes.io/component
// label: one per service and the storefront, or deploy/shop alone.
var (
	splitComponents     = append(slices.Clone(host.Names), "storefront")
	allInOneComponents  = []string{"shop"}
	componentLabel      = "app.kubernetes.io/component"
	siteComponents      = []string{"storefront", "shop"}
	readinessPath       = "/readyz"
	livenessPath        = "/healthz"
	hostnameTopology    = "kubernetes.io/hostname"
	maxReplicaNameBytes = 40 // host.Config.Validate's limit on SHOP_REPLICA
)

func TestBase(t *testing.T) {
	b := kustomize(t, "base")
	b.check(t, splitComponents, true)
	for _, name := range host.Names {
		if b.deployment(name) == nil {
			t.Errorf("base: host.Names has %q but the base has no Deployment for it", name)
		}
	}
}

func TestAllInOne(t *testing.T) {
	b := kustomize(t, filepath.Join("overlays", "all-in-one"))
	b.check(t, allInOneComponents, true)
}

// TestExampleOverlay builds the overlay the README shows: the secrets
// replaced, the configuration merged, images and the host renamed.
func TestExampleOverlay(t *testing.T) {
	b := kustomize(t, filepath.Join("testdata", "my-shop"))
	b.check(t, splitComponents, false)
	for _, d := range b.deployments {
		if d.Namespace != "shop" {
			t.Errorf("%s: namespace %q, want the overlay's", d.Name, d.Namespace)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, "registry.example.com/shopbus/") || strings.HasSuffix(img, ":latest") {
			t.Errorf("%s: image %s, want the overlay's", d.Name, img)
		}
	}
}

// TestREADMEShowsExampleOverlay keeps the README's example overlay the one
// TestExampleOverlay builds.
func TestREADMEShowsExampleOverlay(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "my-shop", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), string(want)) {
		t.Errorf("README.md does not show testdata/my-shop/kustomization.yaml as it is")
	}
}

// build is one kustomization's output, every object decoded strictly.
type build struct {
	dir         string
	deployments []*appsv1.Deployment
	pdbs        []*policyv1.PodDisruptionBudget
	services    []*corev1.Service
	ingresses   []*networkingv1.Ingress
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	rabbits     []*rabbitmqCluster
	mongos      []*mongoDBCommunity
}

// kustomize builds dir with kustomize's library, on the files on disk, and
// decodes every object it outputs into its Go type, rejecting unknown and
// duplicate fields (case-sensitively, as the API server does).
func kustomize(t *testing.T, dir string) *build {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	b := &build{dir: dir, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, r := range m.Resources() {
		gvk := r.GetGvk()
		id := fmt.Sprintf("%s: %s %s %s", dir, gvk.ApiVersion(), gvk.Kind, r.GetName())
		var obj any
		switch gvk.ApiVersion() + " " + gvk.Kind {
		case "apps/v1 Deployment":
			o := new(appsv1.Deployment)
			b.deployments, obj = append(b.deployments, o), o
		case "policy/v1 PodDisruptionBudget":
			o := new(policyv1.PodDisruptionBudget)
			b.pdbs, obj = append(b.pdbs, o), o
		case "v1 Service":
			o := new(corev1.Service)
			b.services, obj = append(b.services, o), o
		case "networking.k8s.io/v1 Ingress":
			o := new(networkingv1.Ingress)
			b.ingresses, obj = append(b.ingresses, o), o
		case "v1 ConfigMap":
			o := new(corev1.ConfigMap)
			b.configMaps[r.GetName()], obj = o, o
		case "v1 Secret":
			o := new(corev1.Secret)
			b.secrets[r.GetName()], obj = o, o
		case "rabbitmq.com/v1beta1 RabbitmqCluster":
			o := new(rabbitmqCluster)
			b.rabbits, obj = append(b.rabbits, o), o
		case "mongodbcommunity.mongodb.com/v1 MongoDBCommunity":
			o := new(mongoDBCommunity)
			b.mongos, obj = append(b.mongos, o), o
		default:
			t.Errorf("%s: no Go type to check this kind against: add it to kustomize()", id)
			continue
		}
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		strict, err := sjson.UnmarshalStrict(data, obj)
		if err != nil {
			t.Errorf("%s: %v", id, err)
		}
		for _, e := range strict {
			t.Errorf("%s: %v", id, e)
		}
		for _, msg := range validation.IsDNS1123Subdomain(r.GetName()) {
			t.Errorf("%s: name: %s", id, msg)
		}
		for k, v := range r.GetLabels() {
			for _, msg := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				t.Errorf("%s: label %s=%s: %s", id, k, v, msg)
			}
		}
	}
	return b
}

// check runs every check on a build whose Deployments should be those of
// components; placeholders says whether its Secrets should still hold the
// base's empty placeholders rather than real values.
func (b *build) check(t *testing.T, components []string, placeholders bool) {
	t.Helper()
	clearShopEnv(t)
	var got []string
	for _, d := range b.deployments {
		got = append(got, d.Labels[componentLabel])
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(components))
	if !slices.Equal(got, want) {
		t.Errorf("%s: Deployments of %v, want %v", b.dir, got, want)
	}
	b.checkBroker(t)
	b.checkDatabase(t)
	b.checkSecrets(t, placeholders)
	sites := map[string]host.Config{}
	for _, d := range b.deployments {
		if cfg, ok := b.checkDeployment(t, d, placeholders); ok && slices.Contains(siteComponents, d.Labels[componentLabel]) {
			sites[d.Name] = cfg
		}
	}
	b.checkPDBs(t)
	b.checkServing(t, sites)
}

func (b *build) deployment(component string) *appsv1.Deployment {
	for _, d := range b.deployments {
		if d.Labels[componentLabel] == component {
			return d
		}
	}
	return nil
}

// selects reports whether a label selector selects a pod with these labels.
func selects(t *testing.T, s *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	if s == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		t.Errorf("selector %v: %v", s, err)
		return false
	}
	return !sel.Empty() && sel.Matches(labels.Set(podLabels))
}

// checkDeployment checks one Deployment, and returns the configuration its
// container would read (host.ConfigFromEnv on its environment).
func (b *build) checkDeployment(t *testing.T, d *appsv1.Deployment, placeholders bool) (host.Config, bool) {
	t.Helper()
	id := b.dir + ": Deployment " + d.Name
	component := d.Labels[componentLabel]
	pod := d.Spec.Template
	ps := pod.Spec
	if !selects(t, d.Spec.Selector, pod.Labels) || pod.Labels[componentLabel] != component {
		t.Errorf("%s: its selector does not select its pods (labels %v)", id, pod.Labels)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("%s: fewer than 2 replicas: one node lost would stop it", id)
	}
	if n := len(d.Name) + len("-5d4f8b9c7d-x2x7k"); n > maxReplicaNameBytes {
		t.Errorf("%s: its pods' names (~%d bytes) exceed SHOP_REPLICA's %d", id, n, maxReplicaNameBytes)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken should be false: the shop never calls the API server", id)
	}
	if ps.EnableServiceLinks == nil || *ps.EnableServiceLinks {
		t.Errorf("%s: enableServiceLinks should be false (the binary reads the environment)", id)
	}
	if sc := ps.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: pods should run as non-root (the image's user is 65534)", id)
	}

	// Spread across nodes.
	spread := false
	for _, c := range ps.TopologySpreadConstraints {
		if c.TopologyKey == hostnameTopology && c.MaxSkew >= 1 && selects(t, c.LabelSelector, pod.Labels) {
			spread = true
		}
	}
	if !spread {
		t.Errorf("%s: no topology spread constraint over %s selecting its pods", id, hostnameTopology)
	}

	if len(ps.Containers) != 1 || len(ps.InitContainers) != 0 {
		t.Errorf("%s: want one container, has %d (and %d init containers)", id, len(ps.Containers), len(ps.InitContainers))
		return host.Config{}, false
	}
	c := ps.Containers[0]
	for _, msg := range validation.IsDNS1123Label(c.Name) {
		t.Errorf("%s: container name %q: %s", id, c.Name, msg)
	}

	// The image runs the binary of deploy/<component>.
	repo, _, _ := strings.Cut(c.Image, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	if path.Base(repo) != component || path.Base(path.Dir(repo)) != "shopbus" {
		t.Errorf("%s: image %s, want shopbus/%s (scripts/images.sh, deploy/Dockerfile)", id, c.Image, component)
	}
	if _, err := os.Stat(filepath.Join("..", component, "main.go")); err != nil {
		t.Errorf("%s: no binary deploy/%s: %v", id, component, err)
	}

	// One HTTP port, probed; a binary with a web site serves /readyz only
	// on its operations port (SHOP_OPS_ADDR), which the Service does not
	// expose.
	port, opsPort := int32(0), int32(0)
	for _, p := range c.Ports {
		for _, msg := range validation.IsValidPortName(p.Name) {
			t.Errorf("%s: port name %q: %s", id, p.Name, msg)
		}
		switch p.Name {
		case "http":
			port = p.ContainerPort
		case "ops":
			opsPort = p.ContainerPort
		}
	}
	if port == 0 {
		t.Errorf("%s: no container port named http", id)
	}
	hasSite := component == "storefront" || component == "shop"
	if hasSite && opsPort == 0 {
		t.Errorf("%s: a binary with a site needs a container port named ops (SHOP_OPS_ADDR) for its readiness probe", id)
	}
	checkProbe := func(kind string, p *corev1.Probe, want string) {
		portName, portNumber := "http", port
		if kind == "readiness" && opsPort != 0 {
			portName, portNumber = "ops", opsPort
		}
		switch {
		case p == nil:
			t.Errorf("%s: no %s probe", id, kind)
		case p.HTTPGet == nil || p.HTTPGet.Path != want:
			t.Errorf("%s: the %s probe should GET %s", id, kind, want)
		case p.HTTPGet.Port != intstr.FromString(portName) && p.HTTPGet.Port != intstr.FromInt32(portNumber):
			t.Errorf("%s: the %s probe's port %s is not the %s port", id, kind, p.HTTPGet.Port.String(), portName)
		case p.TimeoutSeconds < 3 && kind == "readiness":
			// /readyz pings MongoDB for up to host.ReadyTimeout.
			t.Errorf("%s: the readiness probe's timeout (%d s) is shorter than /readyz may take", id, p.TimeoutSeconds)
		}
	}
	checkProbe("readiness", c.ReadinessProbe, readinessPath)
	checkProbe("liveness", c.LivenessProbe, livenessPath)
	if c.StartupProbe != nil {
		checkProbe("startup", c.StartupProbe, livenessPath)
	}

	// Requests and limits of CPU and memory.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		switch {
		case !okReq || !okLim:
			t.Errorf("%s: %s needs a request and a limit", id, r)
		case req.Cmp(lim) > 0:
			t.Errorf("%s: %s request %s above its limit %s", id, r, req.String(), lim.String())
		}
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: the container should have a read-only root file system and no privilege escalation", id)
	}

	// The environment, then the configuration the binary makes of it.
	hosted := hostedServices(component)
	env, ok := b.checkEnv(t, id, d.Name, c, hosted)
	if !ok {
		return host.Config{}, false
	}
	cfg, ok := b.checkConfig(t, id, env, hosted, port, placeholders)
	if ok && opsPort != 0 {
		if _, p, err := net.SplitHostPort(cfg.OpsAddr); err != nil || p != strconv.Itoa(int(opsPort)) {
			t.Errorf("%s: %s=%q does not listen on the container's ops port %d", id, host.EnvOpsAddr, cfg.OpsAddr, opsPort)
		}
	}
	return cfg, ok
}

// hostedServices returns the services a component's binary hosts.
func hostedServices(component string) []string {
	switch {
	case component == "shop":
		return host.Names
	case slices.Contains(host.Names, component):
		return []string{component}
	}
	return nil
}

// Values the test gives what only a cluster would provide.
const (
	fakeRabbitUser     = "default_user_Xk2pQ9vT3mWz"
	fakeRabbitPassword = "Qz8-mP2xL5nR7tV1wY4b_A6cD9eF"
	podNameSuffix      = "-5d4f8b9c7d-x2x7k" // pod-template-hash (10) and 5 random characters
)

// placeholderValue stands for an empty placeholder of the base's Secret.
func placeholderValue(secret, key string) string {
	return "placeholder-" + key + "-" + strconv.Itoa(len(secret))
}

// checkEnv checks a container's environment: every variable is one the
// binary reads (hostEnv, SHOP_WORKERS_<a hosted service>) or a credential
// from a Secret that only serves to compose one of them through $(NAME);
// every reference resolves. It returns the SHOP_* variables as the
// container would see them, with stand-ins for what a cluster provides.
func (b *build) checkEnv(t *testing.T, id, podPrefix string, c corev1.Container, hosted []string) (map[string]string, bool) {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Errorf(id+": "+format, args...)
		ok = false
	}
	known := func(name string) {
		if svc, found := strings.CutPrefix(name, host.EnvWorkersPrefix); found {
			if !slices.Contains(hosted, strings.ToLower(svc)) {
				fail("%s: this binary hosts no service %q (hosts %v)", name, strings.ToLower(svc), hosted)
			}
			return
		}
		for _, v := range hostEnv {
			if v == name && v != host.EnvWorkersPrefix {
				return
			}
		}
		fail("%s is not a variable host.ConfigFromEnv reads (host/config.go)", name)
	}
	defined := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil || from.Prefix != "" {
			fail("envFrom: only ConfigMaps, without a prefix")
			continue
		}
		cm := b.configMaps[from.ConfigMapRef.Name]
		if cm == nil {
			fail("envFrom: no ConfigMap %s in the build", from.ConfigMapRef.Name)
			continue
		}
		for k, v := range cm.Data {
			known(k)
			defined[k] = v
		}
	}
	helpers := map[string]bool{} // credentials only there to be expanded: used yet?
	var order []string
	for _, e := range c.Env {
		for _, msg := range validation.IsEnvVarName(e.Name) {
			fail("env %s: %s", e.Name, msg)
		}
		if slices.Contains(order, e.Name) {
			fail("env %s set twice", e.Name)
		}
		order = append(order, e.Name)
		shop := strings.HasPrefix(e.Name, "SHOP_")
		if shop {
			known(e.Name)
		}
		var value string
		switch vf := e.ValueFrom; {
		case vf == nil:
			var refs []string
			var undefined []string
			value, refs, undefined = expand(e.Value, defined)
			for _, u := range undefined {
				fail("env %s: $(%s) is not defined before it (Kubernetes would leave it as it is)", e.Name, u)
			}
			for _, r := range refs {
				if _, isHelper := helpers[r]; isHelper && shop {
					helpers[r] = true
				}
			}
			if e.Name == host.EnvAdminPassword {
				fail("%s is written in the manifest: take it from a Secret", e.Name)
			}
		case vf.ConfigMapKeyRef != nil:
			cm := b.configMaps[vf.ConfigMapKeyRef.Name]
			v, found := "", false
			if cm != nil {
				v, found = cm.Data[vf.ConfigMapKeyRef.Key]
			}
			if !found {
				fail("env %s: no key %s in a ConfigMap %s of the build", e.Name, vf.ConfigMapKeyRef.Key, vf.ConfigMapKeyRef.Name)
			}
			value = v
		case vf.SecretKeyRef != nil:
			v, err := b.secretValue(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key)
			if err != nil {
				fail("env %s: %v", e.Name, err)
			}
			value = v
		case vf.FieldRef != nil && vf.FieldRef.FieldPath == "metadata.name" && e.Name == host.EnvReplica:
			value = podPrefix + podNameSuffix
		default:
			fail("env %s: an unexpected valueFrom", e.Name)
		}
		if !shop {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				fail("env %s: a variable the binary does not read, and not a credential from a Secret", e.Name)
			}
			helpers[e.Name] = false
		}
		defined[e.Name] = value
	}
	for h, used := range helpers {
		if !used {
			fail("env %s is expanded into no SHOP_* variable", h)
		}
	}
	if _, set := defined[host.EnvAMQPExpire]; set {
		fail("%s deletes queues: for tests, never production", host.EnvAMQPExpire)
	}
	shopEnv := map[string]string{}
	for k, v := range defined {
		if strings.HasPrefix(k, "SHOP_") {
			shopEnv[k] = v
		}
	}
	return shopEnv, ok
}

// secretValue returns a Secret's value as a container would read it: from
// the build, or a stand-in for an empty placeholder or for the Secret the
// RabbitMQ operator generates.
func (b *build) secretValue(name, key string) (string, error) {
	if s := b.secrets[name]; s != nil {
		v, found := s.Data[key]
		switch {
		case !found:
			return "", fmt.Errorf("the Secret %s has no key %s", name, key)
		case len(v) == 0:
			return placeholderValue(name, key), nil
		}
		return string(v), nil
	}
	for _, r := range b.rabbits {
		if name == r.defaultUserSecret() && slices.Contains(rabbitmqDefaultUserKeys, key) {
			if key == "username" {
				return fakeRabbitUser, nil
			}
			return fakeRabbitPassword, nil
		}
	}
	return "", fmt.Errorf("no Secret %s in the build, nor one an operator of the build generates", name)
}

// expand expands $(NAME) references as Kubernetes does for env values: from
// the variables defined before; $$ stands for $. It returns the names used
// and those undefined (which Kubernetes leaves unexpanded).
func expand(s string, defined map[string]string) (out string, refs, undefined []string) {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			sb.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			sb.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				sb.WriteString(s[i:])
				return sb.String(), refs, undefined
			}
			name := s[i+2 : i+end]
			if v, ok := defined[name]; ok {
				sb.WriteString(v)
				refs = append(refs, name)
			} else {
				sb.WriteString(s[i : i+end+1])
				undefined = append(undefined, name)
			}
			i += end
		default:
			sb.WriteByte('$')
		}
	}
	return sb.String(), refs, undefined
}

// clearShopEnv removes the test process's own SHOP_* variables (CI sets
// some) until the test ends.
func clearShopEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SHOP_") {
			t.Setenv(k, v) // restored when the test ends
			os.Unsetenv(k)
		}
	}
}

// configFromEnv runs host.ConfigFromEnv on exactly env.
func configFromEnv(env map[string]string) (host.Config, error) {
	for k, v := range env {
		os.Setenv(k, v)
	}
	defer func() {
		for k := range env {
			os.Unsetenv(k)
		}
	}()
	return host.ConfigFromEnv()
}

// checkConfig checks what the binary makes of a container's environment:
// host.ConfigFromEnv accepts it, and it names the build's broker nodes and
// replica set members with the credentials the operators use.
func (b *build) checkConfig(t *testing.T, id string, env map[string]string, hosted []string, port int32, placeholders bool) (host.Config, bool) {
	t.Helper()
	// The order service logs in as the admin to recover interrupted
	// checkouts and restock cancelled orders.
	needsAdmin := slices.Contains(hosted, "auth") || slices.Contains(hosted, "seeder") || slices.Contains(hosted, "order")
	if placeholders && needsAdmin {
		// As the base comes, with the empty admin password: the binary
		// refuses to start rather than run without one.
		raw := maps.Clone(env)
		raw[host.EnvAdminPassword] = ""
		if _, err := configFromEnv(raw); err == nil || !strings.Contains(err.Error(), host.EnvAdminEmail) {
			t.Errorf("%s: with the placeholder admin password, ConfigFromEnv should fail naming %s; got %v", id, host.EnvAdminEmail, err)
		}
	}
	cfg, err := configFromEnv(env)
	if err != nil {
		t.Errorf("%s: host.ConfigFromEnv rejects the container's environment: %v", id, err)
		return cfg, false
	}
	if cfg.AMQPQueueType != "quorum" {
		t.Errorf("%s: %s=%q, want quorum (a cluster)", id, host.EnvAMQPQueueType, cfg.AMQPQueueType)
	}
	if _, p, err := net.SplitHostPort(cfg.HTTPAddr); err != nil || p != strconv.Itoa(int(port)) {
		t.Errorf("%s: %s=%q does not listen on the container's http port %d", id, host.EnvHTTPAddr, cfg.HTTPAddr, port)
	}
	if needsAdmin != (cfg.Settings.AdminEmail != "") || needsAdmin != (cfg.Settings.AdminPassword != "") {
		t.Errorf("%s: the admin account should reach exactly the binaries hosting auth, the seeder or order (hosts %v)", id, hosted)
	}
	if slices.Contains(hosted, "filter") && cfg.Settings.Replica == "" {
		t.Errorf("%s: hosts the filter without %s (each replica needs its own name)", id, host.EnvReplica)
	}

	// The broker: every node of the RabbitmqCluster, with the user the
	// operator generated.
	if len(b.rabbits) == 1 {
		r := b.rabbits[0]
		urls := cfg.AMQPURLs()
		if len(urls) != r.replicas() {
			t.Errorf("%s: %s names %d nodes, the RabbitmqCluster has %d", id, host.EnvAMQPURL, len(urls), r.replicas())
		}
		for i, s := range urls {
			u, err := url.Parse(s)
			if err != nil {
				t.Errorf("%s: %s: URL %d: %v", id, host.EnvAMQPURL, i+1, err)
				continue
			}
			pw, _ := u.User.Password()
			if u.Scheme != "amqp" || u.Host != r.podHost(i)+":5672" || u.User.Username() != fakeRabbitUser || pw != fakeRabbitPassword {
				t.Errorf("%s: %s: URL %d should be amqp://<%s's username>:<password>@%s:5672/", id, host.EnvAMQPURL, i+1, r.defaultUserSecret(), r.podHost(i))
			}
		}
	}

	// The database: every member of the replica set, as the user the
	// operator creates, with the password it is given.
	if len(b.mongos) == 1 && len(b.mongos[0].Spec.Users) == 1 {
		m, user := b.mongos[0], b.mongos[0].Spec.Users[0]
		cs, err := connstring.ParseAndValidate(cfg.MongoURI)
		if err != nil {
			t.Errorf("%s: %s: %v", id, host.EnvMongoURI, err)
			return cfg, true
		}
		var want []string
		for i := range m.Spec.Members {
			want = append(want, fmt.Sprintf("%s:27017", m.podHost(i)))
		}
		pw, _ := b.secretValue(user.PasswordSecretRef.Name, user.PasswordSecretRef.key())
		if !slices.Equal(cs.Hosts, want) {
			t.Errorf("%s: %s names %v, want the members %v", id, host.EnvMongoURI, cs.Hosts, want)
		}
		if cs.ReplicaSet != m.Name {
			t.Errorf("%s: %s: replicaSet=%q, want %q", id, host.EnvMongoURI, cs.ReplicaSet, m.Name)
		}
		if cs.Username != user.Name || cs.Password != pw || cs.AuthSource != user.db() {
			t.Errorf("%s: %s should log in as %s (authSource=%s) with the password of Secret %s, key %s",
				id, host.EnvMongoURI, user.Name, user.db(), user.PasswordSecretRef.Name, user.PasswordSecretRef.key())
		}
	}
	return cfg, true
}

// checkSecrets checks that the build's own Secrets hold the empty
// placeholders (base, all-in-one: no default password anywhere) or real
// values throughout (an overlay that replaced them).
func (b *build) checkSecrets(t *testing.T, placeholders bool) {
	t.Helper()
	if len(b.secrets) == 0 {
		t.Errorf("%s: no Secret", b.dir)
	}
	for name, s := range b.secrets {
		if len(s.StringData) > 0 {
			t.Errorf("%s: Secret %s: stringData (use the generator)", b.dir, name)
		}
		for k, v := range s.Data {
			if placeholders != (len(v) == 0) {
				t.Errorf("%s: Secret %s, key %s: placeholder %v, value of %d bytes", b.dir, name, k, placeholders, len(v))
			}
		}
	}
}

// checkPDBs checks that every PodDisruptionBudget selects the pods of
// exactly one Deployment or operator, and that every Deployment has one.
func (b *build) checkPDBs(t *testing.T) {
	t.Helper()
	for _, d := range b.deployments {
		n := 0
		for _, p := range b.pdbs {
			if selects(t, p.Spec.Selector, d.Spec.Template.Labels) {
				n++
				if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
					t.Errorf("%s: PodDisruptionBudget %s sets neither maxUnavailable nor minAvailable", b.dir, p.Name)
				}
				if m := p.Spec.MinAvailable; m != nil && m.Type == intstr.Int && d.Spec.Replicas != nil && m.IntVal >= *d.Spec.Replicas {
					t.Errorf("%s: PodDisruptionBudget %s: minAvailable %d blocks every drain of %s", b.dir, p.Name, m.IntVal, d.Name)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s: Deployment %s: %d PodDisruptionBudgets select its pods, want 1", b.dir, d.Name, n)
		}
	}
	for _, p := range b.pdbs {
		n := 0
		for _, d := range b.deployments {
			if selects(t, p.Spec.Selector, d.Spec.Template.Labels) {
				n++
			}
		}
		for _, r := range b.rabbits {
			if selects(t, p.Spec.Selector, r.podLabels()) {
				n++
			}
		}
		for _, m := range b.mongos {
			if selects(t, p.Spec.Selector, m.podLabels()) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: PodDisruptionBudget %s selects the pods of %d workloads, want 1", b.dir, p.Name, n)
		}
	}
}

// checkServing checks the Service and the Ingress: the Service reaches the
// pods that serve the site, on their http port; the Ingress reaches the
// Service, over TLS, at the host of SHOP_BASE_URL.
func (b *build) checkServing(t *testing.T, sites map[string]host.Config) {
	t.Helper()
	if len(b.services) != 1 || len(b.ingresses) != 1 {
		t.Errorf("%s: %d Services and %d Ingresses, want one of each", b.dir, len(b.services), len(b.ingresses))
		return
	}
	svc, ing := b.services[0], b.ingresses[0]
	for _, msg := range validation.IsDNS1035Label(svc.Name) {
		t.Errorf("%s: Service name %s: %s", b.dir, svc.Name, msg)
	}
	var backs []*appsv1.Deployment
	for _, d := range b.deployments {
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			backs = append(backs, d)
		}
	}
	if len(backs) != 1 || !slices.Contains(siteComponents, backs[0].Labels[componentLabel]) {
		t.Errorf("%s: Service %s should select the pods of the one Deployment serving the site", b.dir, svc.Name)
		return
	}
	site := backs[0]
	for _, p := range svc.Spec.Ports {
		found := false
		for _, cp := range site.Spec.Template.Spec.Containers[0].Ports {
			found = found || p.TargetPort == intstr.FromString(cp.Name) || p.TargetPort == intstr.FromInt32(cp.ContainerPort)
		}
		if !found {
			t.Errorf("%s: Service %s: targetPort %s is no port of %s", b.dir, svc.Name, p.TargetPort.String(), site.Name)
		}
	}
	cfg, ok := sites[site.Name]
	if !ok {
		return
	}
	base, err := url.Parse(cfg.Settings.BaseURL)
	if err != nil || base.Scheme != "https" {
		t.Errorf("%s: %s=%q: want the https:// address of the Ingress", b.dir, host.EnvBaseURL, cfg.Settings.BaseURL)
		return
	}
	if len(ing.Spec.Rules) != 1 {
		t.Errorf("%s: Ingress %s: want one rule", b.dir, ing.Name)
		return
	}
	rule := ing.Spec.Rules[0]
	if rule.Host != base.Hostname() {
		t.Errorf("%s: Ingress host %q, but %s names %q", b.dir, rule.Host, host.EnvBaseURL, base.Hostname())
	}
	tls := false
	for _, tl := range ing.Spec.TLS {
		tls = tls || (slices.Contains(tl.Hosts, rule.Host) && tl.SecretName != "")
	}
	if !tls {
		t.Errorf("%s: Ingress %s: no TLS for %s", b.dir, ing.Name, rule.Host)
	}
	if rule.HTTP == nil || len(rule.HTTP.Paths) == 0 {
		t.Errorf("%s: Ingress %s: no paths", b.dir, ing.Name)
		return
	}
	for _, p := range rule.HTTP.Paths {
		s := p.Backend.Service
		ok := s != nil && s.Name == svc.Name && slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
			return sp.Name == s.Port.Name && s.Port.Name != "" || sp.Port == s.Port.Number && s.Port.Number != 0
		})
		if !ok {
			t.Errorf("%s: Ingress %s: path %s does not reach a port of Service %s", b.dir, ing.Name, p.Path, svc.Name)
		}
	}
}

// checkBroker checks the RabbitmqCluster: three nodes, each on its own
// Kubernetes node, with resources and a PodDisruptionBudget.
func (b *build) checkBroker(t *testing.T) {
	t.Helper()
	if len(b.rabbits) != 1 {
		t.Errorf("%s: %d RabbitmqClusters, want 1", b.dir, len(b.rabbits))
		return
	}
	r := b.rabbits[0]
	id := b.dir + ": RabbitmqCluster " + r.Name
	if err := r.validate(); err != nil {
		t.Errorf("%s: %v", id, err)
	}
	if r.replicas() != 3 {
		t.Errorf("%s: %d replicas, want 3", id, r.replicas())
	}
	if r.Spec.Image == "" {
		t.Errorf("%s: no image: the operator's default may predate RabbitMQ 4.2", id)
	}
	checkResources(t, id, r.Spec.Resources)
	checkAntiAffinity(t, id, r.Spec.Affinity, r.podLabels())
	b.checkHasPDB(t, id, r.podLabels())
}

// checkDatabase checks the MongoDBCommunity: a replica set of three members
// on different Kubernetes nodes, with SCRAM, one user whose password comes
// from the build's Secret, resources and a PodDisruptionBudget.
func (b *build) checkDatabase(t *testing.T) {
	t.Helper()
	if len(b.mongos) != 1 {
		t.Errorf("%s: %d MongoDBCommunity resources, want 1", b.dir, len(b.mongos))
		return
	}
	m := b.mongos[0]
	id := b.dir + ": MongoDBCommunity " + m.Name
	if err := m.validate(); err != nil {
		t.Errorf("%s: %v", id, err)
	}
	if m.Spec.Members != 3 || m.Spec.Arbiters != 0 {
		t.Errorf("%s: %d members and %d arbiters, want 3 members", id, m.Spec.Members, m.Spec.Arbiters)
	}
	if m.Spec.Version == "" {
		t.Errorf("%s: no version", id)
	}
	if len(m.Spec.Users) != 1 {
		t.Errorf("%s: %d users, want the shop's one", id, len(m.Spec.Users))
		return
	}
	u := m.Spec.Users[0]
	ref := u.PasswordSecretRef
	if s := b.secrets[ref.Name]; s == nil {
		t.Errorf("%s: user %s: its password Secret %s is not in the build (kustomize renames generated Secrets: see kustomizeconfig.yaml)", id, u.Name, ref.Name)
	} else if _, ok := s.Data[ref.key()]; !ok {
		t.Errorf("%s: user %s: Secret %s has no key %s", id, u.Name, ref.Name, ref.key())
	}
	if m.Spec.StatefulSetConfiguration == nil {
		t.Errorf("%s: no statefulSet: resources and anti-affinity are set there", id)
		return
	}
	ps := m.Spec.StatefulSetConfiguration.Spec.Template.Spec
	i := slices.IndexFunc(ps.Containers, func(c corev1.Container) bool { return c.Name == "mongod" })
	if i < 0 {
		t.Errorf("%s: no resources for the mongod container", id)
	} else {
		checkResources(t, id+" mongod", &ps.Containers[i].Resources)
	}
	checkAntiAffinity(t, id, ps.Affinity, m.podLabels())
	b.checkHasPDB(t, id, m.podLabels())
}

// checkHasPDB checks that a PodDisruptionBudget selects the pods with
// these labels (an operator's, which it does not protect itself).
func (b *build) checkHasPDB(t *testing.T, id string, podLabels map[string]string) {
	t.Helper()
	for _, p := range b.pdbs {
		if selects(t, p.Spec.Selector, podLabels) {
			return
		}
	}
	t.Errorf("%s: no PodDisruptionBudget selects its pods (labelled %v)", id, podLabels)
}

func checkResources(t *testing.T, id string, r *corev1.ResourceRequirements) {
	t.Helper()
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if r == nil {
			t.Errorf("%s: no resources", id)
			return
		}
		req, okReq := r.Requests[name]
		lim, okLim := r.Limits[name]
		if !okReq || !okLim || req.Cmp(lim) > 0 {
			t.Errorf("%s: %s needs a request no larger than its limit", id, name)
		}
	}
}

// checkAntiAffinity checks that pods with these labels are required to be
// on different Kubernetes nodes.
func checkAntiAffinity(t *testing.T, id string, a *corev1.Affinity, podLabels map[string]string) {
	t.Helper()
	if a != nil && a.PodAntiAffinity != nil {
		for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == hostnameTopology && selects(t, term.LabelSelector, podLabels) {
				return
			}
		}
	}
	t.Errorf("%s: no required pod anti-affinity over %s for the pods labelled %v", id, hostnameTopology, podLabels)
}
