package k8s

// The operators' custom resources, as far as these manifests use them. No
// cluster (and so no CRD schema) is at hand: each type below copies the
// JSON names and Go types of the fields used here from the operator's own
// API types, and decoding is strict, so a misspelt or misplaced field fails
// the test. A field these manifests do not use is rejected too: add it here,
// from the same source, before using it.

import (
	"fmt"
	"regexp"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rabbitmqCluster is a RabbitmqCluster (rabbitmq.com/v1beta1) of the
// RabbitMQ Cluster Operator: github.com/rabbitmq/cluster-operator,
// api/v1beta1/rabbitmqcluster_types.go.
type rabbitmqCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              rabbitmqClusterSpec `json:"spec,omitempty"`
}

type rabbitmqClusterSpec struct {
	// Replicas: +kubebuilder:validation:Minimum:=0, default 1; "only 1,
	// 3, 5 replicas clusters are tested".
	Replicas    *int32                         `json:"replicas,omitempty"`
	Image       string                         `json:"image,omitempty"`
	Resources   *corev1.ResourceRequirements   `json:"resources,omitempty"`
	Persistence rabbitmqClusterPersistenceSpec `json:"persistence,omitempty"`
	Affinity    *corev1.Affinity               `json:"affinity,omitempty"`
	Tolerations []corev1.Toleration            `json:"tolerations,omitempty"`
	Rabbitmq    rabbitmqConfigurationSpec      `json:"rabbitmq,omitempty"`
	// TerminationGracePeriodSeconds: +kubebuilder:validation:Minimum:=0.
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

type rabbitmqClusterPersistenceSpec struct {
	StorageClassName *string            `json:"storageClassName,omitempty"`
	Storage          *resource.Quantity `json:"storage,omitempty"`
}

type rabbitmqConfigurationSpec struct {
	// AdditionalPlugins: each ^\w+$, at most 100 characters; 100 at most.
	AdditionalPlugins []string `json:"additionalPlugins,omitempty"`
	// AdditionalConfig: rabbitmq.conf lines, at most 2000 characters.
	AdditionalConfig string `json:"additionalConfig,omitempty"`
	// AdvancedConfig: at most 100000 characters.
	AdvancedConfig string `json:"advancedConfig,omitempty"`
	// EnvConfig: at most 100000 characters.
	EnvConfig string `json:"envConfig,omitempty"`
}

var rabbitmqPlugin = regexp.MustCompile(`^\w+$`)

// validate checks the constraints the CRD's schema puts on the fields used.
func (r *rabbitmqCluster) validate() error {
	s := r.Spec
	if s.Replicas != nil && *s.Replicas < 0 {
		return fmt.Errorf("spec.replicas %d < 0", *s.Replicas)
	}
	if s.TerminationGracePeriodSeconds != nil && *s.TerminationGracePeriodSeconds < 0 {
		return fmt.Errorf("spec.terminationGracePeriodSeconds < 0")
	}
	c := s.Rabbitmq
	if len(c.AdditionalPlugins) > 100 {
		return fmt.Errorf("spec.rabbitmq.additionalPlugins: more than 100")
	}
	for _, p := range c.AdditionalPlugins {
		if !rabbitmqPlugin.MatchString(p) || len(p) > 100 {
			return fmt.Errorf("spec.rabbitmq.additionalPlugins: %q", p)
		}
	}
	if len(c.AdditionalConfig) > 2000 || len(c.AdvancedConfig) > 100000 || len(c.EnvConfig) > 100000 {
		return fmt.Errorf("spec.rabbitmq: configuration too long")
	}
	return nil
}

// replicas is spec.replicas with its default.
func (r *rabbitmqCluster) replicas() int {
	if r.Spec.Replicas == nil {
		return 1
	}
	return int(*r.Spec.Replicas)
}

// Names of what the RabbitMQ Cluster Operator creates for a cluster (its
// documentation and internal/resource): the StatefulSet's pods, the
// headless Service that names them, and the default user's Secret (an
// administrator's, which only the Messaging Topology Operator may use).
func (r *rabbitmqCluster) podHost(i int) string {
	return fmt.Sprintf("%s-server-%d.%s-nodes", r.Name, i, r.Name)
}
func (r *rabbitmqCluster) defaultUserSecret() string { return r.Name + "-default-user" }
func (r *rabbitmqCluster) podLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": r.Name}
}

// mongoDBCommunity is a MongoDBCommunity (mongodbcommunity.mongodb.com/v1)
// of the MongoDB Community Operator: github.com/mongodb/mongodb-kubernetes,
// mongodb-community-operator/api/v1/mongodbcommunity_types.go (formerly
// github.com/mongodb/mongodb-kubernetes-operator, api/v1).
type mongoDBCommunity struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              mongoDBCommunitySpec `json:"spec,omitempty"`
}

type mongoDBCommunitySpec struct {
	Members int `json:"members"`
	// Type: +kubebuilder:validation:Enum=ReplicaSet.
	Type                        string `json:"type"`
	Version                     string `json:"version,omitempty"`
	FeatureCompatibilityVersion string `json:"featureCompatibilityVersion,omitempty"`
	Arbiters                    int    `json:"arbiters,omitempty"`
	// Security: +required.
	Security mongoDBSecurity `json:"security"`
	// Users: +required.
	Users []mongoDBUser `json:"users"`
	// StatefulSetConfiguration is merged into the operator's StatefulSet
	// (the operator decodes it as an apps/v1 StatefulSetSpec).
	StatefulSetConfiguration *mongoDBStatefulSet `json:"statefulSet,omitempty"`
	AdditionalMongodConfig   map[string]any      `json:"additionalMongodConfig,omitempty"`
}

type mongoDBStatefulSet struct {
	Spec appsv1.StatefulSetSpec `json:"spec"`
}

type mongoDBSecurity struct {
	Authentication mongoDBAuthentication `json:"authentication"`
}

type mongoDBAuthentication struct {
	// Modes: each +kubebuilder:validation:Enum=SCRAM;SCRAM-SHA-256;SCRAM-SHA-1;X509.
	Modes              []string `json:"modes"`
	IgnoreUnknownUsers *bool    `json:"ignoreUnknownUsers,omitempty"`
}

type mongoDBUser struct {
	Name string `json:"name"`
	// DB defaults to admin.
	DB                string                    `json:"db,omitempty"`
	PasswordSecretRef mongoDBSecretKeyReference `json:"passwordSecretRef,omitempty"`
	Roles             []mongoDBRole             `json:"roles"`
	// ScramCredentialsSecretName: the pattern of mongoDBSecretName.
	ScramCredentialsSecretName string `json:"scramCredentialsSecretName,omitempty"`
	ConnectionStringSecretName string `json:"connectionStringSecretName,omitempty"`
}

type mongoDBSecretKeyReference struct {
	Name string `json:"name"`
	// Key defaults to password.
	Key string `json:"key,omitempty"`
}

type mongoDBRole struct {
	DB   string `json:"db"`
	Name string `json:"name"`
}

var mongoDBSecretName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// validate checks the constraints the CRD's schema puts on the fields used.
func (m *mongoDBCommunity) validate() error {
	s := m.Spec
	if s.Type != "ReplicaSet" {
		return fmt.Errorf("spec.type %q: only ReplicaSet", s.Type)
	}
	if len(s.Security.Authentication.Modes) == 0 {
		return fmt.Errorf("spec.security.authentication.modes is empty")
	}
	for _, mode := range s.Security.Authentication.Modes {
		if !slices.Contains([]string{"SCRAM", "SCRAM-SHA-256", "SCRAM-SHA-1", "X509"}, mode) {
			return fmt.Errorf("spec.security.authentication.modes: %q", mode)
		}
	}
	for _, u := range s.Users {
		if u.Name == "" || u.PasswordSecretRef.Name == "" || len(u.Roles) == 0 {
			return fmt.Errorf("spec.users: user %q needs a name, a passwordSecretRef and roles", u.Name)
		}
		if n := u.ScramCredentialsSecretName; n != "" && !mongoDBSecretName.MatchString(n) {
			return fmt.Errorf("spec.users: scramCredentialsSecretName %q", n)
		}
	}
	return nil
}

// Names the MongoDB Community Operator gives a replica set's members (the
// StatefulSet's pods, named by the headless Service <name>-svc) and the
// label it puts on them.
func (m *mongoDBCommunity) podHost(i int) string {
	return fmt.Sprintf("%s-%d.%s-svc", m.Name, i, m.Name)
}
func (m *mongoDBCommunity) podLabels() map[string]string {
	return map[string]string{"app": m.Name + "-svc"}
}

func (u mongoDBUser) db() string {
	if u.DB == "" {
		return "admin"
	}
	return u.DB
}

func (r mongoDBSecretKeyReference) key() string {
	if r.Key == "" {
		return "password"
	}
	return r.Key
}

// The RabbitMQ Messaging Topology Operator's resources (rabbitmq.com/v1beta1):
// github.com/rabbitmq/messaging-topology-operator, api/v1beta1/user_types.go,
// permission_types.go, topicpermission_types.go, exchange_types.go and
// rabbitmq_cluster_reference.go. The operator creates what they describe
// in the RabbitmqCluster they reference, through its management API.

// rabbitmqClusterReference names the RabbitmqCluster a resource belongs to.
type rabbitmqClusterReference struct {
	// Name: either it or ConnectionSecret, not both (the webhooks).
	Name string `json:"name,omitempty"`
	// Namespace defaults to the resource's.
	Namespace        string                       `json:"namespace,omitempty"`
	ConnectionSecret *corev1.LocalObjectReference `json:"connectionSecret,omitempty"`
}

// validate checks what the operator's webhooks check of a reference, and
// that it names cluster (in the resource's namespace).
func (r rabbitmqClusterReference) validate(cluster string) error {
	if (r.Name == "") == (r.ConnectionSecret == nil) {
		return fmt.Errorf("spec.rabbitmqClusterReference: set either name or connectionSecret")
	}
	if r.Name != cluster || r.Namespace != "" {
		return fmt.Errorf("spec.rabbitmqClusterReference: %q in namespace %q, want the build's RabbitmqCluster %q", r.Name, r.Namespace, cluster)
	}
	return nil
}

// rabbitmqUser is a User: a RabbitMQ user whose credentials the operator
// generates (a random user name and password) or imports from
// importCredentialsSecret (keys username and password), and keeps in the
// Secret <metadata.name>-user-credentials, keys username and password.
type rabbitmqUser struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              rabbitmqUserSpec `json:"spec,omitempty"`
}

type rabbitmqUserSpec struct {
	// Tags: each +kubebuilder:validation:Enum=management;policymaker;monitoring;administrator.
	Tags []string `json:"tags,omitempty"`
	// RabbitmqClusterReference: +kubebuilder:validation:Required.
	RabbitmqClusterReference rabbitmqClusterReference `json:"rabbitmqClusterReference"`
	// ImportCredentialsSecret is read once, when the user is created.
	ImportCredentialsSecret *corev1.LocalObjectReference `json:"importCredentialsSecret,omitempty"`
}

// credentialsSecret is the name of the Secret the operator keeps the
// user's credentials in (controllers/user_controller.go).
func (u *rabbitmqUser) credentialsSecret() string { return u.Name + "-user-credentials" }

// rabbitmqUserCredentialKeys are the keys of a user's credentials Secret
// that a shop pod may read.
var rabbitmqUserCredentialKeys = []string{"username", "password"}

func (u *rabbitmqUser) validate(cluster string) error {
	for _, tag := range u.Spec.Tags {
		if !slices.Contains([]string{"management", "policymaker", "monitoring", "administrator"}, tag) {
			return fmt.Errorf("spec.tags: %q", tag)
		}
	}
	return u.Spec.RabbitmqClusterReference.validate(cluster)
}

// rabbitmqPermission is a Permission: a user's configure, write and read
// regexes in a virtual host. An unset regex is empty, which RabbitMQ reads
// as matching nothing but the empty name.
type rabbitmqPermission struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              rabbitmqPermissionSpec `json:"spec,omitempty"`
}

type rabbitmqPermissionSpec struct {
	// User or UserReference (a User of the namespace), not both.
	User          string                       `json:"user,omitempty"`
	UserReference *corev1.LocalObjectReference `json:"userReference,omitempty"`
	// Vhost: +kubebuilder:validation:Required.
	Vhost string `json:"vhost"`
	// Permissions: +kubebuilder:validation:Required.
	Permissions              rabbitmqVhostPermissions `json:"permissions"`
	RabbitmqClusterReference rabbitmqClusterReference `json:"rabbitmqClusterReference"`
}

type rabbitmqVhostPermissions struct {
	Configure string `json:"configure,omitempty"`
	Write     string `json:"write,omitempty"`
	Read      string `json:"read,omitempty"`
}

func (p *rabbitmqPermission) validate(cluster string) error {
	if err := validateUserRef(p.Spec.User, p.Spec.UserReference); err != nil {
		return err
	}
	if p.Spec.Vhost == "" {
		return fmt.Errorf("spec.vhost is required")
	}
	return p.Spec.RabbitmqClusterReference.validate(cluster)
}

// rabbitmqTopicPermission is a TopicPermission: the routing keys a user
// may publish to one topic exchange (write) and bind with (read).
type rabbitmqTopicPermission struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              rabbitmqTopicPermissionSpec `json:"spec,omitempty"`
}

type rabbitmqTopicPermissionSpec struct {
	// User or UserReference, not both (the webhook).
	User          string                       `json:"user,omitempty"`
	UserReference *corev1.LocalObjectReference `json:"userReference,omitempty"`
	// Vhost: +kubebuilder:validation:Required.
	Vhost string `json:"vhost"`
	// Permissions: +kubebuilder:validation:Required.
	Permissions              rabbitmqTopicPermissionsConfig `json:"permissions"`
	RabbitmqClusterReference rabbitmqClusterReference       `json:"rabbitmqClusterReference"`
}

// rabbitmqTopicPermissionsConfig is TopPermissionsConfig (sic).
type rabbitmqTopicPermissionsConfig struct {
	Exchange string `json:"exchange,omitempty"`
	Read     string `json:"read,omitempty"`
	Write    string `json:"write,omitempty"`
}

func (p *rabbitmqTopicPermission) validate(cluster string) error {
	if err := validateUserRef(p.Spec.User, p.Spec.UserReference); err != nil {
		return err
	}
	if p.Spec.Vhost == "" || p.Spec.Permissions.Exchange == "" {
		return fmt.Errorf("spec.vhost and spec.permissions.exchange are required")
	}
	return p.Spec.RabbitmqClusterReference.validate(cluster)
}

// validateUserRef checks the webhooks' rule: spec.user or
// spec.userReference, not both.
func validateUserRef(user string, ref *corev1.LocalObjectReference) error {
	if (user == "") == (ref == nil || ref.Name == "") {
		return fmt.Errorf("spec: set either user or userReference")
	}
	return nil
}

// rabbitmqExchange is an Exchange, declared by the operator.
type rabbitmqExchange struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              rabbitmqExchangeSpec `json:"spec,omitempty"`
}

type rabbitmqExchangeSpec struct {
	// Name: +kubebuilder:validation:Required.
	Name string `json:"name"`
	// Vhost: +kubebuilder:default:=/.
	Vhost string `json:"vhost,omitempty"`
	// Type: +kubebuilder:validation:Enum=direct;fanout;headers;topic,
	// +kubebuilder:default:=direct.
	Type                     string                   `json:"type,omitempty"`
	Durable                  bool                     `json:"durable,omitempty"`
	AutoDelete               bool                     `json:"autoDelete,omitempty"`
	RabbitmqClusterReference rabbitmqClusterReference `json:"rabbitmqClusterReference"`
}

func (e *rabbitmqExchange) validate(cluster string) error {
	if e.Spec.Name == "" {
		return fmt.Errorf("spec.name is required")
	}
	if !slices.Contains([]string{"direct", "fanout", "headers", "topic"}, e.exchangeType()) {
		return fmt.Errorf("spec.type %q", e.Spec.Type)
	}
	return e.Spec.RabbitmqClusterReference.validate(cluster)
}

// vhost and exchangeType are the spec's fields with their defaults.
func (e *rabbitmqExchange) vhost() string {
	if e.Spec.Vhost == "" {
		return "/"
	}
	return e.Spec.Vhost
}

func (e *rabbitmqExchange) exchangeType() string {
	if e.Spec.Type == "" {
		return "direct"
	}
	return e.Spec.Type
}

// rabbitmqPolicy is a Policy, set by the operator: here the one bounding
// the subscribers' dead-letter queues.
type rabbitmqPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              rabbitmqPolicySpec `json:"spec,omitempty"`
}

type rabbitmqPolicySpec struct {
	// Name: +kubebuilder:validation:Required.
	Name string `json:"name"`
	// Vhost: +kubebuilder:default:=/.
	Vhost string `json:"vhost,omitempty"`
	// Pattern: +kubebuilder:validation:Required.
	Pattern string `json:"pattern"`
	// ApplyTo: +kubebuilder:validation:Enum=queues;classic_queues;quorum_queues;exchanges;all,
	// +kubebuilder:default:=all.
	ApplyTo  string `json:"applyTo,omitempty"`
	Priority int    `json:"priority,omitempty"`
	// Definition: +kubebuilder:validation:Type=object, Required.
	Definition               map[string]any           `json:"definition"`
	RabbitmqClusterReference rabbitmqClusterReference `json:"rabbitmqClusterReference"`
}

func (p *rabbitmqPolicy) validate(cluster string) error {
	if p.Spec.Name == "" || p.Spec.Pattern == "" {
		return fmt.Errorf("spec.name and spec.pattern are required")
	}
	if _, err := regexp.Compile(p.Spec.Pattern); err != nil {
		return fmt.Errorf("spec.pattern: %v", err)
	}
	if !slices.Contains([]string{"queues", "classic_queues", "quorum_queues", "exchanges", "all"}, p.applyTo()) {
		return fmt.Errorf("spec.applyTo %q", p.Spec.ApplyTo)
	}
	if len(p.Spec.Definition) == 0 {
		return fmt.Errorf("spec.definition is required")
	}
	return p.Spec.RabbitmqClusterReference.validate(cluster)
}

// vhost and applyTo are the spec's fields with their defaults.
func (p *rabbitmqPolicy) vhost() string {
	if p.Spec.Vhost == "" {
		return "/"
	}
	return p.Spec.Vhost
}

func (p *rabbitmqPolicy) applyTo() string {
	if p.Spec.ApplyTo == "" {
		return "all"
	}
	return p.Spec.ApplyTo
}
