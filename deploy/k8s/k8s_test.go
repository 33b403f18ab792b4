package k8s

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
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
	"regexp"
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

	"github.com/shopbus/shopbus/deploy/internal/brokeraccess"
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
	"EnvAuthHashes":    host.EnvAuthHashes,
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

// TestImportedBrokerUser builds the README's example of a User whose
// credentials are imported from a Secret of the overlay's rather than
// generated: kustomize renames the reference with the generated Secret.
func TestImportedBrokerUser(t *testing.T) {
	dir := filepath.Join("testdata", "imported-broker-user")
	b := kustomize(t, dir)
	var imported []string
	for _, u := range b.users {
		if err := u.validate(brokerCluster); err != nil {
			t.Errorf("User %s: %v", u.Name, err)
		}
		ref := u.Spec.ImportCredentialsSecret
		if ref == nil {
			continue
		}
		imported = append(imported, u.Name)
		s := b.secrets[ref.Name]
		if s == nil || len(s.Data["username"]) == 0 || len(s.Data["password"]) == 0 {
			t.Errorf("User %s: importCredentialsSecret %s: no Secret of the build with a username and a password", u.Name, ref.Name)
		}
	}
	if !slices.Equal(imported, []string{brokerResourcePrefix + "product"}) {
		t.Errorf("Users importing their credentials: %v, want only shopbus-product's", imported)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), string(want)) {
		t.Errorf("README.md does not show %s/kustomization.yaml as it is", dir)
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
	// The Messaging Topology Operator's resources: the broker accounts and
	// the namespace's exchanges.
	users            []*rabbitmqUser
	permissions      []*rabbitmqPermission
	topicPermissions []*rabbitmqTopicPermission
	exchanges        []*rabbitmqExchange
	policies         []*rabbitmqPolicy
	// brokerUsers maps each Deployment to the User (metadata.name) whose
	// credentials its broker URLs carry, as checkDeployment found them.
	brokerUsers map[string]string
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
	b := &build{dir: dir, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, brokerUsers: map[string]string{}}
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
		case "rabbitmq.com/v1beta1 User":
			o := new(rabbitmqUser)
			b.users, obj = append(b.users, o), o
		case "rabbitmq.com/v1beta1 Permission":
			o := new(rabbitmqPermission)
			b.permissions, obj = append(b.permissions, o), o
		case "rabbitmq.com/v1beta1 TopicPermission":
			o := new(rabbitmqTopicPermission)
			b.topicPermissions, obj = append(b.topicPermissions, o), o
		case "rabbitmq.com/v1beta1 Exchange":
			o := new(rabbitmqExchange)
			b.exchanges, obj = append(b.exchanges, o), o
		case "rabbitmq.com/v1beta1 Policy":
			o := new(rabbitmqPolicy)
			b.policies, obj = append(b.policies, o), o
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
	sites, configs := map[string]host.Config{}, map[string]host.Config{}
	for _, d := range b.deployments {
		cfg, ok := b.checkDeployment(t, d, placeholders)
		if !ok {
			continue
		}
		configs[d.Name] = cfg
		if slices.Contains(siteComponents, d.Labels[componentLabel]) {
			sites[d.Name] = cfg
		}
	}
	b.checkPDBs(t)
	b.checkServing(t, sites)
	b.checkBrokerAccounts(t, configs)
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
	cfg, ok := b.checkConfig(t, id, d.Name, env, hosted, port, placeholders)
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
	podNameSuffix = "-5d4f8b9c7d-x2x7k" // pod-template-hash (10) and 5 random characters
)

// fakeRabbitCredentials stands for the credentials the Messaging Topology
// Operator generates for a User: a different user name and password per
// User, each 32 characters of URL-safe base64 as the operator's are.
func fakeRabbitCredentials(user string) (username, password string) {
	u := sha256.Sum256([]byte("username " + user))
	p := sha256.Sum256([]byte("password " + user))
	return base64.URLEncoding.EncodeToString(u[:24]), base64.URLEncoding.EncodeToString(p[:24])
}

// userWithCredentials returns the User of the build whose (stand-in)
// credentials these are, or "".
func (b *build) userWithCredentials(username, password string) string {
	for _, u := range b.users {
		if user, pw := fakeRabbitCredentials(u.Name); user == username && pw == password {
			return u.Name
		}
	}
	return ""
}

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
// the build, or a stand-in for an empty placeholder or for a Secret the
// Messaging Topology Operator generates (a User's credentials). The RabbitMQ
// Cluster Operator's default user is an administrator, so no shop pod may
// read it: it has no stand-in.
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
	for _, u := range b.users {
		if name == u.credentialsSecret() && slices.Contains(rabbitmqUserCredentialKeys, key) {
			user, pw := fakeRabbitCredentials(u.Name)
			if key == "username" {
				return user, nil
			}
			return pw, nil
		}
	}
	for _, r := range b.rabbits {
		if name == r.defaultUserSecret() {
			return "", fmt.Errorf("the Secret %s holds the broker's administrator: use the service's own User (broker-accounts.yaml)", name)
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
func (b *build) checkConfig(t *testing.T, id, deployment string, env map[string]string, hosted []string, port int32, placeholders bool) (host.Config, bool) {
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

	// The broker: every node of the RabbitmqCluster, with the credentials
	// the Messaging Topology Operator generated for one of the build's
	// Users (checkBrokerAccounts checks which).
	if len(b.rabbits) == 1 {
		r := b.rabbits[0]
		urls := cfg.AMQPURLs()
		if len(urls) != r.replicas() {
			t.Errorf("%s: %s names %d nodes, the RabbitmqCluster has %d", id, host.EnvAMQPURL, len(urls), r.replicas())
		}
		users := map[string]bool{}
		for i, s := range urls {
			u, err := url.Parse(s)
			if err != nil {
				t.Errorf("%s: %s: URL %d: %v", id, host.EnvAMQPURL, i+1, err)
				continue
			}
			pw, _ := u.User.Password()
			user := b.userWithCredentials(u.User.Username(), pw)
			if u.Scheme != "amqp" || u.Host != r.podHost(i)+":5672" || user == "" {
				t.Errorf("%s: %s: URL %d should be amqp://<username>:<password>@%s:5672/ with the credentials of a User of the build (<user>-user-credentials)", id, host.EnvAMQPURL, i+1, r.podHost(i))
				continue
			}
			users[user] = true
		}
		if len(users) == 1 {
			for u := range users {
				b.brokerUsers[deployment] = u
			}
		} else if len(users) > 1 {
			t.Errorf("%s: %s: the URLs carry the credentials of different Users %v", id, host.EnvAMQPURL, slices.Sorted(maps.Keys(users)))
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

// The broker accounts (SECURITY.md, "Broker accounts"): the plan
// deploy/brokeraccess makes for compose, one account per service of
// host.Names and one for the storefront, which only calls services. The
// manifests hold the same accounts as resources of the RabbitMQ Messaging
// Topology Operator, in files this test generates from
// deploy/internal/brokeraccess (TestBrokerAccountFiles) and checks, once
// built, against what brokeraccess computes (checkBrokerAccounts).
var (
	brokerPlan  = brokeraccess.Plan{Services: host.Names, Callers: []string{"storefront"}}
	updateFiles = flag.Bool("update", false, "rewrite the generated broker account manifests (TestBrokerAccountFiles)")
)

const (
	// brokerResourcePrefix + an account's name names its User and
	// Permission (and its credentials Secret, + "-user-credentials"); its
	// TopicPermissions add "-" and the exchange's name without the
	// namespace ("shopbus-product-events"), as do the Exchanges.
	brokerResourcePrefix = "shopbus-"
	// allInOneAccount is the account of the all-in-one shop: one process
	// hosting every service and the storefront has the union of their
	// rights.
	allInOneAccount = "shop"
	// brokerCluster is the RabbitmqCluster of base/broker.yaml.
	brokerCluster       = "shopbus-rabbitmq"
	baseAccountsFile    = "base/broker-accounts.yaml"
	allInOneAccountFile = "overlays/all-in-one/broker-account.yaml"
)

const baseAccountsHeader = `# The shop's least-privilege RabbitMQ accounts, as resources of the RabbitMQ
# Messaging Topology Operator (rabbitmq.com/v1beta1), which must be installed
# beside the Cluster Operator (see ../README.md). They are compose's accounts
# (deploy/brokeraccess; SECURITY.md, "Broker accounts"): for every service
# of host.Names and for the storefront a User, a Permission and a
# TopicPermission per topic exchange. A service configures and consumes only
# its own queues and publishes only its own event keys (product.# for
# product); the storefront may only call services. The operator generates
# each User's user name and password into the Secret
# <User name>-user-credentials (keys username and password), which that
# service's Deployment alone reads. The accounts may not declare the
# namespace's exchanges, so the operator declares them here too.
#
# Generated from deploy/internal/brokeraccess by
#   cd deploy/k8s && go test -run TestBrokerAccountFiles -update
# Do not edit: the test fails when this file is not what it generates.
`

const allInOneAccountHeader = `# The all-in-one shop's RabbitMQ account: one process hosts every service and
# the storefront, so its one User has the union of their rights (each regex
# the alternation of theirs), which still confines it to the shop's own
# objects and event keys. The overlay removes the base's per-service
# accounts; the base's Exchanges stay.
#
# Generated from deploy/internal/brokeraccess by
#   cd deploy/k8s && go test -run TestBrokerAccountFiles -update
# Do not edit: the test fails when this file is not what it generates.
`

// brokerAccounts returns the accounts of brokerPlan.
func brokerAccounts(t *testing.T) []brokeraccess.Account {
	t.Helper()
	accounts, err := brokerPlan.Accounts()
	if err != nil {
		t.Fatal(err)
	}
	return accounts
}

// brokerExchanges returns the exchanges brokerPlan's definitions declare
// (those transport/rabbit declares, or only checks when it may not).
func brokerExchanges(t *testing.T) []brokeraccess.Exchange {
	t.Helper()
	passwords := map[string]string{}
	for _, a := range brokerAccounts(t) {
		passwords[a.Name] = strings.Repeat("x", brokeraccess.MinPasswordLength)
	}
	defs, err := brokerPlan.Definitions(passwords, nil)
	if err != nil {
		t.Fatal(err)
	}
	return defs.Exchanges
}

// brokerPolicies returns the policies brokerPlan's definitions set (the
// bound of the subscribers' dead-letter queues).
func brokerPolicies() []brokeraccess.Policy {
	return []brokeraccess.Policy{brokerPlan.DeadLetterPolicy()}
}

// expectedAccount returns the account brokeraccess computes for the
// Deployment of a component: the service's or the storefront's own, or the
// union of all for the all-in-one shop.
func expectedAccount(t *testing.T, component string) (brokeraccess.Account, bool) {
	t.Helper()
	accounts := brokerAccounts(t)
	if component == allInOneAccount {
		return unionAccount(allInOneAccount, accounts), true
	}
	i := slices.IndexFunc(accounts, func(a brokeraccess.Account) bool { return a.Name == component })
	if i < 0 {
		return brokeraccess.Account{}, false
	}
	return accounts[i], true
}

// unionAccount returns one account with the rights of all of accounts:
// each regex is the alternation of theirs (each top-level alternative
// once, those matching nothing left out), with one topic permission per
// exchange, in the order they come.
func unionAccount(name string, accounts []brokeraccess.Account) brokeraccess.Account {
	u := brokeraccess.Account{Name: name, Permission: brokeraccess.Permission{
		VHost: accounts[0].Permission.VHost, Configure: brokeraccess.Nothing, Write: brokeraccess.Nothing, Read: brokeraccess.Nothing,
	}}
	for _, a := range accounts {
		p := &u.Permission
		p.Configure = unionRegex(p.Configure, a.Permission.Configure)
		p.Write = unionRegex(p.Write, a.Permission.Write)
		p.Read = unionRegex(p.Read, a.Permission.Read)
		for _, tp := range a.Topics {
			i := slices.IndexFunc(u.Topics, func(x brokeraccess.TopicPermission) bool { return x.Exchange == tp.Exchange })
			if i < 0 {
				u.Topics = append(u.Topics, brokeraccess.TopicPermission{VHost: tp.VHost, Exchange: tp.Exchange, Write: brokeraccess.Nothing, Read: brokeraccess.Nothing})
				i = len(u.Topics) - 1
			}
			u.Topics[i].Write = unionRegex(u.Topics[i].Write, tp.Write)
			u.Topics[i].Read = unionRegex(u.Topics[i].Read, tp.Read)
		}
	}
	return u
}

// unionRegex returns a regex matching what any of res matches: their
// top-level alternatives, each once, joined with |.
func unionRegex(res ...string) string {
	var alts []string
	for _, re := range res {
		for _, a := range alternatives(re) {
			if a != brokeraccess.Nothing && !slices.Contains(alts, a) {
				alts = append(alts, a)
			}
		}
	}
	if len(alts) == 0 {
		return brokeraccess.Nothing
	}
	return strings.Join(alts, "|")
}

// alternatives splits a regex at its top-level |, outside groups, character
// classes and escapes.
func alternatives(re string) []string {
	var out []string
	depth, start, class := 0, 0, false
	for i := 0; i < len(re); i++ {
		switch c := re[i]; {
		case c == '\\':
			i++
		case class:
			class = c != ']'
		case c == '[':
			class = true
			if strings.HasPrefix(re[i+1:], "^") {
				i++
			}
			if strings.HasPrefix(re[i+1:], "]") { // a literal ]
				i++
			}
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			out = append(out, re[start:i])
			start = i + 1
		}
	}
	return append(out, re[start:])
}

// TestBrokerAccountFiles checks that the account manifests are what
// deploy/internal/brokeraccess gives today; with -update it writes them.
func TestBrokerAccountFiles(t *testing.T) {
	accounts := brokerAccounts(t)
	files := map[string][]byte{
		baseAccountsFile:    brokerAccountsYAML(t, baseAccountsHeader, brokerExchanges(t), brokerPolicies(), accounts),
		allInOneAccountFile: brokerAccountsYAML(t, allInOneAccountHeader, nil, nil, []brokeraccess.Account{unionAccount(allInOneAccount, accounts)}),
	}
	for name, want := range files {
		if *updateFiles {
			if err := os.WriteFile(filepath.FromSlash(name), want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s is not what deploy/internal/brokeraccess gives: run go test -run TestBrokerAccountFiles -update here, and review the difference", name)
		}
	}
}

// brokerAccountsYAML renders exchanges, policies and accounts as the
// Messaging Topology Operator's resources, after header.
func brokerAccountsYAML(t *testing.T, header string, exchanges []brokeraccess.Exchange, policies []brokeraccess.Policy, accounts []brokeraccess.Account) []byte {
	t.Helper()
	ns := brokeraccess.DefaultNamespace
	if brokerPlan.Namespace != "" {
		ns = brokerPlan.Namespace
	}
	// A single-quoted YAML scalar: no escapes but '' for '.
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	short := func(exchange string) string { return strings.TrimPrefix(exchange, ns+".") }
	var sb strings.Builder
	sb.WriteString(header)
	cluster := "  rabbitmqClusterReference:\n    name: " + brokerCluster + "\n"
	for _, e := range exchanges {
		if e.Internal || len(e.Arguments) > 0 {
			t.Fatalf("exchange %s: internal or arguments, which the Exchange resource here does not carry", e.Name)
		}
		fmt.Fprintf(&sb, "---\napiVersion: rabbitmq.com/v1beta1\nkind: Exchange\nmetadata:\n  name: %s%s\nspec:\n  name: %s\n  vhost: %s\n  type: %s\n",
			brokerResourcePrefix, short(e.Name), e.Name, q(e.VHost), e.Type)
		if e.Durable {
			sb.WriteString("  durable: true\n")
		}
		if e.AutoDelete {
			sb.WriteString("  autoDelete: true\n")
		}
		sb.WriteString(cluster)
	}
	for _, p := range policies {
		fmt.Fprintf(&sb, "---\napiVersion: rabbitmq.com/v1beta1\nkind: Policy\nmetadata:\n  name: %s\nspec:\n  name: %s\n  vhost: %s\n  pattern: %s\n  applyTo: %s\n  definition:\n",
			brokerResourcePrefix+strings.TrimPrefix(p.Name, ns+"-"), p.Name, q(p.VHost), q(p.Pattern), p.ApplyTo)
		for _, k := range slices.Sorted(maps.Keys(p.Definition)) {
			switch v := p.Definition[k].(type) {
			case string:
				fmt.Fprintf(&sb, "    %s: %s\n", k, q(v))
			case int:
				fmt.Fprintf(&sb, "    %s: %d\n", k, v)
			default:
				t.Fatalf("policy %s: %s is a %T, which this renderer does not write", p.Name, k, v)
			}
		}
		sb.WriteString(cluster)
	}
	for _, a := range accounts {
		if a.Admin {
			t.Fatalf("account %s is an administrator: not for a shop pod", a.Name)
		}
		name := brokerResourcePrefix + a.Name
		meta := func(kind, name string) {
			fmt.Fprintf(&sb, "apiVersion: rabbitmq.com/v1beta1\nkind: %s\nmetadata:\n  name: %s\n  labels:\n    app.kubernetes.io/name: shopbus\n    app.kubernetes.io/component: %s\n", kind, name, a.Name)
		}
		fmt.Fprintf(&sb, "---\n# The account of %s.\n", a.Name)
		meta("User", name)
		sb.WriteString("spec:\n" + cluster)
		sb.WriteString("---\n")
		meta("Permission", name)
		p := a.Permission
		fmt.Fprintf(&sb, "spec:\n  vhost: %s\n  userReference:\n    name: %s\n  permissions:\n    configure: %s\n    write: %s\n    read: %s\n",
			q(p.VHost), name, q(p.Configure), q(p.Write), q(p.Read))
		sb.WriteString(cluster)
		for _, tp := range a.Topics {
			sb.WriteString("---\n")
			meta("TopicPermission", name+"-"+short(tp.Exchange))
			fmt.Fprintf(&sb, "spec:\n  vhost: %s\n  userReference:\n    name: %s\n  permissions:\n    exchange: %s\n    write: %s\n    read: %s\n",
				q(tp.VHost), name, tp.Exchange, q(tp.Write), q(tp.Read))
			sb.WriteString(cluster)
		}
	}
	return []byte(sb.String())
}

// checkBrokerAccounts checks the broker accounts of a build whose
// Deployments gave configs: no Deployment reads the RabbitmqCluster's
// default user (an administrator); each logs in as a User of its own, whose
// Permission and TopicPermissions are exactly what deploy/internal/brokeraccess
// computes for it (the union of all for the all-in-one shop), and with
// which it may use its own queues, under its pods' replica names, and no
// other service's; every User belongs to one Deployment; the namespace's
// exchanges are declared as transport/rabbit declares them.
func (b *build) checkBrokerAccounts(t *testing.T, configs map[string]host.Config) {
	t.Helper()
	cluster := brokerCluster
	if len(b.rabbits) == 1 {
		cluster = b.rabbits[0].Name
	}
	for _, d := range b.deployments {
		data, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.rabbits {
			if strings.Contains(string(data), `"`+r.defaultUserSecret()+`"`) {
				t.Errorf("%s: Deployment %s refers to the Secret %s: the cluster's administrator, not for a shop pod", b.dir, d.Name, r.defaultUserSecret())
			}
		}
	}

	users := map[string]*rabbitmqUser{}
	for _, u := range b.users {
		id := b.dir + ": User " + u.Name
		if err := u.validate(cluster); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		if len(u.Spec.Tags) > 0 {
			t.Errorf("%s: tags %v: a shop account needs no management access", id, u.Spec.Tags)
		}
		if ref := u.Spec.ImportCredentialsSecret; ref != nil {
			s := b.secrets[ref.Name]
			if s == nil || s.Data["username"] == nil || s.Data["password"] == nil {
				t.Errorf("%s: importCredentialsSecret %s: no Secret of the build with keys username and password", id, ref.Name)
			}
		}
		users[u.Name] = u
	}
	// The operator generates the user names, so a permission can name its
	// user only by userReference.
	userOf := func(id, user string, ref *corev1.LocalObjectReference) string {
		if user != "" || ref == nil || users[ref.Name] == nil {
			t.Errorf("%s: its userReference should name a User of the build (spec.user cannot: the operator generates the user names)", id)
			return ""
		}
		return ref.Name
	}
	perms := map[string][]rabbitmqPermissionSpec{}
	for _, p := range b.permissions {
		id := b.dir + ": Permission " + p.Name
		if err := p.validate(cluster); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		if u := userOf(id, p.Spec.User, p.Spec.UserReference); u != "" {
			perms[u] = append(perms[u], p.Spec)
		}
	}
	topics := map[string]map[string]rabbitmqTopicPermissionSpec{}
	for _, p := range b.topicPermissions {
		id := b.dir + ": TopicPermission " + p.Name
		if err := p.validate(cluster); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		u := userOf(id, p.Spec.User, p.Spec.UserReference)
		if u == "" {
			continue
		}
		if topics[u] == nil {
			topics[u] = map[string]rabbitmqTopicPermissionSpec{}
		}
		key := p.Spec.Vhost + " " + p.Spec.Permissions.Exchange
		if _, dup := topics[u][key]; dup {
			t.Errorf("%s: a second TopicPermission of %s on exchange %s", id, u, p.Spec.Permissions.Exchange)
		}
		topics[u][key] = p.Spec
	}

	usedBy := map[string][]string{}
	for _, d := range b.deployments {
		id := b.dir + ": Deployment " + d.Name
		cfg, configured := configs[d.Name]
		user, ok := b.brokerUsers[d.Name]
		if !ok {
			if configured {
				t.Errorf("%s: its broker URLs carry no User's credentials", id)
			}
			continue
		}
		usedBy[user] = append(usedBy[user], d.Name)
		component := d.Labels[componentLabel]
		want, ok := expectedAccount(t, component)
		if !ok {
			t.Errorf("%s: deploy/internal/brokeraccess's plan has no account for %q", id, component)
			continue
		}
		id += " (User " + user + ")"
		if len(perms[user]) != 1 {
			t.Errorf("%s: %d Permissions, want 1", id, len(perms[user]))
			continue
		}
		p := perms[user][0]
		got := brokeraccess.Permission{VHost: p.Vhost, Configure: p.Permissions.Configure, Write: p.Permissions.Write, Read: p.Permissions.Read}
		if w := want.Permission; got != (brokeraccess.Permission{VHost: w.VHost, Configure: w.Configure, Write: w.Write, Read: w.Read}) {
			t.Errorf("%s: permissions\n\t%+v\nwant deploy/internal/brokeraccess's\n\t%+v", id, got, w)
		}
		var gotTopics, wantTopics []string
		for _, tp := range topics[user] {
			gotTopics = append(gotTopics, fmt.Sprintf("%s %s write=%s read=%s", tp.Vhost, tp.Permissions.Exchange, tp.Permissions.Write, tp.Permissions.Read))
		}
		for _, tp := range want.Topics {
			wantTopics = append(wantTopics, fmt.Sprintf("%s %s write=%s read=%s", tp.VHost, tp.Exchange, tp.Write, tp.Read))
		}
		slices.Sort(gotTopics)
		slices.Sort(wantTopics)
		if !slices.Equal(gotTopics, wantTopics) {
			t.Errorf("%s: topic permissions\n\t%s\nwant deploy/internal/brokeraccess's\n\t%s", id, strings.Join(gotTopics, "\n\t"), strings.Join(wantTopics, "\n\t"))
		}
		if configured {
			checkAccountReach(t, id, cfg, hostedServices(component), p.Permissions, topics[user])
		}
	}
	for _, u := range b.users {
		if n := len(usedBy[u.Name]); n != 1 {
			t.Errorf("%s: User %s is the broker account of %d Deployments %v, want 1 (each its own)", b.dir, u.Name, n, usedBy[u.Name])
		}
	}
	b.checkExchanges(t, cluster)
	b.checkPolicies(t, cluster)
}

// checkPolicies checks that the build sets the policies the definitions
// of compose set (the bound of the subscribers' dead-letter queues), and
// no other.
func (b *build) checkPolicies(t *testing.T, cluster string) {
	t.Helper()
	got := map[string]*rabbitmqPolicy{}
	for _, p := range b.policies {
		id := b.dir + ": Policy " + p.Name
		if err := p.validate(cluster); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		got[p.vhost()+" "+p.Spec.Name] = p
	}
	for _, want := range brokerPolicies() {
		key := want.VHost + " " + want.Name
		p := got[key]
		delete(got, key)
		if p == nil {
			t.Errorf("%s: no Policy %s: the subscribers' dead-letter queues are unbounded", b.dir, want.Name)
			continue
		}
		wantDef, _ := json.Marshal(want.Definition)
		gotDef, _ := json.Marshal(p.Spec.Definition)
		if p.Spec.Pattern != want.Pattern || p.applyTo() != want.ApplyTo || p.Spec.Priority != want.Priority || string(gotDef) != string(wantDef) {
			t.Errorf("%s: Policy %s: pattern %s, applyTo %s, priority %d, definition %s; want %s, %s, %d, %s",
				b.dir, p.Name, p.Spec.Pattern, p.applyTo(), p.Spec.Priority, gotDef, want.Pattern, want.ApplyTo, want.Priority, wantDef)
		}
	}
	for _, p := range got {
		t.Errorf("%s: Policy %s: %s is not one of the shop's", b.dir, p.Name, p.Spec.Name)
	}
}

// checkAccountReach checks, on the regexes themselves, what an account
// lets a binary hosting these services do: configure, write and read its
// own queues (with its replica name) and no other service's, publish its
// own event keys and no other's, publish requests, and never declare the
// namespace's exchanges (the operator does).
func checkAccountReach(t *testing.T, id string, cfg host.Config, hosted []string, p rabbitmqVhostPermissions, topics map[string]rabbitmqTopicPermissionSpec) {
	t.Helper()
	ns := cmp.Or(cfg.AMQPNamespace, brokeraccess.DefaultNamespace)
	if ns != brokeraccess.DefaultNamespace {
		t.Errorf("%s: %s=%q, but the accounts are made for %q", id, host.EnvAMQPNamespace, ns, brokeraccess.DefaultNamespace)
		return
	}
	match := func(re, name string) bool {
		r, err := regexp.Compile(re)
		if err != nil {
			t.Errorf("%s: regex %q: %v", id, re, err)
			return false
		}
		return r.MatchString(name)
	}
	var events, retry string
	for _, tp := range topics {
		switch tp.Permissions.Exchange {
		case ns + ".events":
			events = tp.Permissions.Write
		case ns + ".retry":
			retry = tp.Permissions.Write
		}
	}
	if events == "" || retry == "" {
		t.Errorf("%s: no topic permission on %s.events or %s.retry: it could publish any event key", id, ns, ns)
	}
	for _, s := range host.Names {
		own := slices.Contains(hosted, s)
		queues := []string{ns + "." + s, ns + "." + s + ".dead", ns + ".events." + s, ns + ".events." + s + ".dead"}
		if r := cfg.Settings.Replica; r != "" {
			queues = append(queues, ns+".events."+s+"-"+r, ns+".events."+s+"-"+r+".dead")
		}
		for _, q := range queues {
			for _, x := range []struct{ what, re string }{{"configure", p.Configure}, {"write", p.Write}, {"read", p.Read}} {
				if match(x.re, q) != own {
					t.Errorf("%s: may %s the queue %s: %v, want %v (hosts %v)", id, x.what, q, !own, own, hosted)
				}
			}
		}
		if match(events, s+".changed") != own {
			t.Errorf("%s: may publish the event key %s.changed: %v, want %v", id, s, !own, own)
		}
		if match(retry, ns+".events."+s) != own {
			t.Errorf("%s: may retry into %s.events.%s: %v, want %v", id, ns, s, !own, own)
		}
	}
	if !match(p.Write, "amq.default") {
		t.Errorf("%s: may not publish to the default exchange (requests and replies)", id)
	}
	for _, x := range []string{ns + ".events", ns + ".retry", ns + ".dead"} {
		if match(p.Configure, x) {
			t.Errorf("%s: may configure (delete) the exchange %s", id, x)
		}
	}
}

// checkExchanges checks that the build declares the exchanges the
// accounts may not declare themselves, as transport/rabbit declares them
// (it then only checks that they exist).
func (b *build) checkExchanges(t *testing.T, cluster string) {
	t.Helper()
	got := map[string]*rabbitmqExchange{}
	for _, e := range b.exchanges {
		id := b.dir + ": Exchange " + e.Name
		if err := e.validate(cluster); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		key := e.vhost() + " " + e.Spec.Name
		if got[key] != nil {
			t.Errorf("%s: exchange %s declared twice", id, e.Spec.Name)
		}
		got[key] = e
	}
	for _, want := range brokerExchanges(t) {
		key := want.VHost + " " + want.Name
		e := got[key]
		delete(got, key)
		switch {
		case e == nil:
			t.Errorf("%s: no Exchange %s: the accounts may not declare it", b.dir, want.Name)
		case e.exchangeType() != want.Type || e.Spec.Durable != want.Durable || e.Spec.AutoDelete != want.AutoDelete:
			t.Errorf("%s: Exchange %s: %s, durable %v, auto-delete %v; transport/rabbit declares %s, durable %v, auto-delete %v",
				b.dir, e.Name, e.exchangeType(), e.Spec.Durable, e.Spec.AutoDelete, want.Type, want.Durable, want.AutoDelete)
		}
	}
	for _, e := range got {
		t.Errorf("%s: Exchange %s: %s is not one of the shop's", b.dir, e.Name, e.Spec.Name)
	}
}

// TestUnionAccount checks that the all-in-one account's regexes match
// exactly what one of the accounts matches, on the names of every
// account's objects and routing keys and on others.
func TestUnionAccount(t *testing.T) {
	accounts := brokerAccounts(t)
	u := unionAccount(allInOneAccount, accounts)
	ns := brokeraccess.DefaultNamespace
	var names []string
	for _, s := range append(slices.Clone(host.Names), "storefront", "other", "auth-x", "") {
		names = append(names, s, ns+"."+s, ns+"."+s+".dead", ns+".events."+s, ns+".events."+s+"-r1",
			ns+".events."+s+"-r1.dead", ns+".events."+s+".dead", s+".changed", s+".", "x."+s, ns+"."+s+".x")
	}
	names = append(names, "amq.default", "amq.topic", ns+".events", ns+".retry", ns+".dead", "other.events", "#", "*")
	matches := func(re, name string) bool { return regexp.MustCompile(re).MatchString(name) }
	check := func(what, union string, each func(brokeraccess.Account) []string) {
		for _, n := range names {
			some := false
			for _, a := range accounts {
				for _, re := range each(a) {
					some = some || matches(re, n)
				}
			}
			if matches(union, n) != some {
				t.Errorf("%s %q: the union matches %v, the accounts %v", what, n, !some, some)
			}
		}
	}
	check("configure", u.Permission.Configure, func(a brokeraccess.Account) []string { return []string{a.Permission.Configure} })
	check("write", u.Permission.Write, func(a brokeraccess.Account) []string { return []string{a.Permission.Write} })
	check("read", u.Permission.Read, func(a brokeraccess.Account) []string { return []string{a.Permission.Read} })
	if len(u.Topics) != 2 {
		t.Fatalf("topic permissions on %d exchanges, want 2: %+v", len(u.Topics), u.Topics)
	}
	for _, ut := range u.Topics {
		topic := func(write bool) func(brokeraccess.Account) []string {
			return func(a brokeraccess.Account) []string {
				var out []string
				for _, tp := range a.Topics {
					if tp.Exchange == ut.Exchange {
						if write {
							out = append(out, tp.Write)
						} else {
							out = append(out, tp.Read)
						}
					}
				}
				return out
			}
		}
		check(ut.Exchange+" write", ut.Write, topic(true))
		check(ut.Exchange+" read", ut.Read, topic(false))
	}
	if got := alternatives(`^a(b|c)$|[|(]x|\|y|[^\s\S]`); !slices.Equal(got, []string{`^a(b|c)$`, `[|(]x`, `\|y`, `[^\s\S]`}) {
		t.Errorf("alternatives: %q", got)
	}
}
