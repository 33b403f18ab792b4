// Package brokeraccess computes least-privilege RabbitMQ accounts for a
// shop: one user per service and one per caller (the storefront), each
// with configure, write and read permissions limited to its own queues and
// the exchanges it must use, and topic permissions on the events exchange
// so that a service publishes only its own event keys ("product.#" for
// product). It renders them as a RabbitMQ definitions file, which the
// broker loads at boot (load_definitions) or rabbitmqctl import_definitions
// imports.
//
// The objects follow the wire contract (CONTRACT.md), in namespace N:
//
//	N.<service>                     request queue   (only <service> reads it)
//	N.<service>.dead                parked requests (only <service> reads it)
//	N.events.<service>[-<replica>]  the service's event queues, and .dead
//	N.events                        topic exchange  (write: own keys only)
//	N.retry                         topic exchange of retried events
//	                                (routing key: own event queues only)
//	N.dead                          dead-letter exchange
//
// The definitions also carry the policy N-dead-letters, which bounds every
// N.events.<subscriber>.dead queue (Plan.DeadLetterLimit, the oldest
// dropped first): a policy, not a queue argument, so that it bounds the
// queues brokers hold already, which a changed declaration would not.
//
// A service account may declare (configure) its own queues only: the two
// exchanges are declared by the definitions file, and a bus without the
// right to declare them checks them passively. A subscriber handles only
// events that came through N.events or N.retry, so the default exchange,
// through which any account can put a message in any queue, cannot carry
// a forged event past the topic permissions. Everyone publishes requests
// and replies through the default exchange (write on amq.default) and
// consumes direct reply-to, which needs no permission.
package brokeraccess

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/shopbus/shopbus/transport"
)

// DefaultNamespace is the namespace of the shop's broker objects (the
// default of transport/rabbit and of SHOP_AMQP_NAMESPACE).
const DefaultNamespace = "shop"

// DefaultVHost is the virtual host the accounts are given permissions in.
const DefaultVHost = "/"

// MinPasswordLength is the shortest password an account may have. The
// definitions file holds salted SHA-256 hashes, which only a long random
// password keeps out of reach of an offline guess.
const MinPasswordLength = 16

// HashingAlgorithm is the RabbitMQ password hashing module of the users
// in a definitions file.
const HashingAlgorithm = "rabbit_password_hashing_sha256"

// Nothing is a permission regex that matches no resource name and no
// routing key, in RabbitMQ's regexes (PCRE) and Go's alike: an empty
// character class. (RabbitMQ reads an empty regex as "^$", which matches
// the empty routing key of a topic exchange.)
const Nothing = `^[^\s\S]`

// Plan says which accounts to make.
type Plan struct {
	// Namespace prefixes every queue and exchange name (DefaultNamespace
	// when empty), as rabbit.Options.Namespace does.
	Namespace string
	// VHost is the virtual host (DefaultVHost when empty).
	VHost string
	// Services serve requests on their own queue, subscribe to events
	// and publish events under their own name, e.g. host.Names.
	Services []string
	// Callers only call services, e.g. "storefront": they publish to the
	// default exchange and consume direct reply-to, nothing else.
	Callers []string
	// UserPrefix is prepended to an account's name to make its user name
	// (Namespace + "-" when empty, e.g. "shop-product"), so that several
	// shops, or test runs, can share a broker.
	UserPrefix string
	// Admin, when set, is the name of an operator account with the
	// administrator tag and every permission in VHost, for the
	// management UI and rabbitmqctl-like tools. Its user name is Admin
	// itself (no prefix).
	Admin string
	// DeadLetterLimit bounds each subscriber's dead-letter queue
	// (N.events.<subscriber>.dead) with a policy (DefaultDeadLetterLimit
	// when 0): beyond it the oldest parked event is dropped. The bus
	// declares those queues without a length (changing a queue's arguments
	// would make its declaration fail on brokers that hold it already); a
	// policy bounds old and new queues alike.
	DeadLetterLimit int
}

// DefaultDeadLetterLimit is Plan.DeadLetterLimit's default, as many
// events as the bus keeps of parked requests (N.<service>.dead).
const DefaultDeadLetterLimit = 10_000

// Policy is a RabbitMQ policy in a definitions file.
type Policy struct {
	VHost      string         `json:"vhost"`
	Name       string         `json:"name"`
	Pattern    string         `json:"pattern"`
	ApplyTo    string         `json:"apply-to"`
	Definition map[string]any `json:"definition"`
	Priority   int            `json:"priority"`
}

// DeadLetterPolicy returns the policy bounding the subscribers'
// dead-letter queues to p.DeadLetterLimit events, the oldest dropped
// first.
func (p Plan) DeadLetterPolicy() Policy {
	p = p.withDefaults()
	return Policy{
		VHost:      p.VHost,
		Name:       p.Namespace + "-dead-letters",
		Pattern:    "^" + regexp.QuoteMeta(p.Namespace+".events.") + `.+\.dead$`,
		ApplyTo:    "queues",
		Definition: map[string]any{"max-length": p.DeadLetterLimit, "overflow": "drop-head"},
	}
}

// Permission is a user's configure, write and read regexes in a virtual
// host (RabbitMQ's access control).
type Permission struct {
	User      string `json:"user"`
	VHost     string `json:"vhost"`
	Configure string `json:"configure"`
	Write     string `json:"write"`
	Read      string `json:"read"`
}

// TopicPermission limits the routing keys a user may publish to a topic
// exchange (Write) and the binding keys it may bind a queue with (Read).
type TopicPermission struct {
	User     string `json:"user"`
	VHost    string `json:"vhost"`
	Exchange string `json:"exchange"`
	Write    string `json:"write"`
	Read     string `json:"read"`
}

// Account is the broker user of one service or caller.
type Account struct {
	// Name is the service or caller, e.g. "product".
	Name string
	// User is the RabbitMQ user name, e.g. "shop-product".
	User string
	// Admin marks the operator account (Plan.Admin).
	Admin bool
	// Permission and Topics (one per topic exchange) are what the user
	// may do.
	Permission Permission
	Topics     []TopicPermission
}

// Error is a plan or a password that cannot make valid accounts.
type Error struct {
	Field  string // what is wrong: "services", "password", ...
	Reason string
}

func (e *Error) Error() string { return "brokeraccess: " + e.Field + ": " + e.Reason }

func (p Plan) withDefaults() Plan {
	if p.Namespace == "" {
		p.Namespace = DefaultNamespace
	}
	if p.VHost == "" {
		p.VHost = DefaultVHost
	}
	if p.UserPrefix == "" {
		p.UserPrefix = p.Namespace + "-"
	}
	if p.DeadLetterLimit <= 0 {
		p.DeadLetterLimit = DefaultDeadLetterLimit
	}
	return p
}

// check rejects plans whose regexes could reach another account's objects.
func (p Plan) check() error {
	if err := transport.CheckName("namespace", p.Namespace); err != nil {
		return &Error{"namespace", err.Error()}
	}
	if len(p.Services)+len(p.Callers) == 0 {
		return &Error{"services", "no service and no caller"}
	}
	seen := map[string]bool{}
	all := slices.Concat(p.Services, p.Callers)
	if p.Admin != "" {
		all = append(all, p.Admin)
	}
	for _, name := range all {
		if err := transport.CheckName("service", name); err != nil {
			return &Error{"services", err.Error()}
		}
		if seen[name] {
			return &Error{"services", "duplicate name " + name}
		}
		seen[name] = true
		switch name {
		case "events", "retry", "dead":
			return &Error{"services", name + " names one of the namespace's exchanges"}
		}
	}
	// A service's replica queues are "events.<service>-<replica>": another
	// service called "<service>-..." would share them.
	for _, a := range p.Services {
		for _, b := range p.Services {
			if strings.HasPrefix(b, a+"-") {
				return &Error{"services", fmt.Sprintf("%s would share the replica queues of %s (%s.events.%s-<replica>)", b, a, p.Namespace, a)}
			}
		}
	}
	return nil
}

// Accounts returns the account of every service, then of every caller,
// then the administrator's, in the order of the plan.
func (p Plan) Accounts() ([]Account, error) {
	p = p.withDefaults()
	if err := p.check(); err != nil {
		return nil, err
	}
	ns := regexp.QuoteMeta(p.Namespace)
	events, retry := p.Namespace+".events", p.Namespace+".retry"
	var out []Account
	for _, s := range p.Services {
		svc := regexp.QuoteMeta(s)
		// Its request queue and parked requests; its event queue, a
		// replica's own event queue, and their dead letters.
		own := `^` + ns + `\.(` + svc + `|events\.` + svc + `(-[a-z0-9_-]+)?)(\.dead)?$`
		eventQueues := `^` + ns + `\.events\.` + svc + `(-[a-z0-9_-]+)?$`
		out = append(out, Account{
			Name: s,
			User: p.UserPrefix + s,
			Permission: Permission{
				Configure: own,
				// Publish to the default exchange (requests, replies,
				// parked requests) and to the events and retry exchanges;
				// declaring an event queue whose dead letters go to N.dead
				// needs write on N.dead; binding a queue needs write on
				// the queue.
				Write: `^amq\.default$|^` + ns + `\.(events|retry|dead)$|` + own,
				// Consume its own queues; bind them to the exchanges.
				Read: `^` + ns + `\.(events|retry|dead)$|` + own,
			},
			Topics: []TopicPermission{{
				Exchange: events,
				Write:    `^` + svc + `\.`,
				// Any binding key: what a service may read is decided by
				// which queues it may consume (its own).
				Read: `.*`,
			}, {
				// Retries go to the queue named by the routing key.
				Exchange: retry,
				Write:    eventQueues,
				Read:     eventQueues,
			}},
		})
	}
	for _, c := range p.Callers {
		out = append(out, Account{
			Name: c,
			User: p.UserPrefix + c,
			Permission: Permission{
				Configure: Nothing,
				Write:     `^amq\.default$`,
				Read:      Nothing,
			},
			Topics: []TopicPermission{
				{Exchange: events, Write: Nothing, Read: Nothing},
				{Exchange: retry, Write: Nothing, Read: Nothing},
			},
		})
	}
	if p.Admin != "" {
		out = append(out, Account{
			Name:       p.Admin,
			User:       p.Admin,
			Admin:      true,
			Permission: Permission{Configure: ".*", Write: ".*", Read: ".*"},
		})
	}
	for i := range out {
		a := &out[i]
		a.Permission.User, a.Permission.VHost = a.User, p.VHost
		for j := range a.Topics {
			a.Topics[j].User, a.Topics[j].VHost = a.User, p.VHost
		}
	}
	return out, nil
}

// Definitions is a RabbitMQ definitions file (the JSON that
// `rabbitmqctl export_definitions` writes and load_definitions reads).
type Definitions struct {
	Users            []User            `json:"users"`
	VHosts           []VHost           `json:"vhosts"`
	Permissions      []Permission      `json:"permissions"`
	TopicPermissions []TopicPermission `json:"topic_permissions"`
	Parameters       []any             `json:"parameters"`
	GlobalParameters []any             `json:"global_parameters"`
	Policies         []any             `json:"policies"`
	Queues           []any             `json:"queues"`
	Exchanges        []Exchange        `json:"exchanges"`
	Bindings         []any             `json:"bindings"`
}

// User is a RabbitMQ user with a hashed password.
type User struct {
	Name             string   `json:"name"`
	PasswordHash     string   `json:"password_hash"`
	HashingAlgorithm string   `json:"hashing_algorithm"`
	Tags             []string `json:"tags"`
}

// VHost is a virtual host.
type VHost struct {
	Name string `json:"name"`
}

// Exchange is an exchange the definitions declare.
type Exchange struct {
	Name       string         `json:"name"`
	VHost      string         `json:"vhost"`
	Type       string         `json:"type"`
	Durable    bool           `json:"durable"`
	AutoDelete bool           `json:"auto_delete"`
	Internal   bool           `json:"internal"`
	Arguments  map[string]any `json:"arguments"`
}

// Definitions renders the accounts as a definitions file: the virtual
// host, the namespace's three exchanges (as transport/rabbit declares
// them), and each account's user, permissions and topic permissions.
// passwords maps each account name (service, caller, Plan.Admin) to its
// password; every account needs one of at least MinPasswordLength bytes.
// Salts are read from rnd (crypto/rand when nil).
func (p Plan) Definitions(passwords map[string]string, rnd io.Reader) (*Definitions, error) {
	accounts, err := p.Accounts()
	if err != nil {
		return nil, err
	}
	p = p.withDefaults()
	if rnd == nil {
		rnd = rand.Reader
	}
	d := &Definitions{
		VHosts:           []VHost{{Name: p.VHost}},
		Parameters:       []any{},
		GlobalParameters: []any{},
		Policies:         []any{p.DeadLetterPolicy()},
		Queues:           []any{},
		Bindings:         []any{},
		Exchanges: []Exchange{
			{Name: p.Namespace + ".events", VHost: p.VHost, Type: "topic", Durable: true, Arguments: map[string]any{}},
			{Name: p.Namespace + ".retry", VHost: p.VHost, Type: "topic", Durable: true, Arguments: map[string]any{}},
			{Name: p.Namespace + ".dead", VHost: p.VHost, Type: "direct", Durable: true, Arguments: map[string]any{}},
		},
	}
	var missing []string
	for _, a := range accounts {
		pw, ok := passwords[a.Name]
		if !ok || pw == "" {
			missing = append(missing, a.Name)
			continue
		}
		if len(pw) < MinPasswordLength {
			return nil, &Error{"password", fmt.Sprintf("the password of %s is shorter than %d bytes", a.Name, MinPasswordLength)}
		}
		var salt [4]byte
		if _, err := io.ReadFull(rnd, salt[:]); err != nil {
			return nil, fmt.Errorf("brokeraccess: salt: %w", err)
		}
		tags := []string{}
		if a.Admin {
			tags = []string{"administrator"}
		}
		d.Users = append(d.Users, User{Name: a.User, PasswordHash: HashPassword(pw, salt), HashingAlgorithm: HashingAlgorithm, Tags: tags})
		d.Permissions = append(d.Permissions, a.Permission)
		d.TopicPermissions = append(d.TopicPermissions, a.Topics...)
	}
	if len(missing) > 0 {
		return nil, &Error{"password", "no password for " + strings.Join(missing, ", ")}
	}
	return d, nil
}

// JSON returns the definitions as indented JSON.
func (d *Definitions) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// HashPassword returns password hashed as RabbitMQ's
// rabbit_password_hashing_sha256 does: base64(salt ‖ SHA-256(salt ‖ password)).
func HashPassword(password string, salt [4]byte) string {
	h := sha256.New()
	h.Write(salt[:])
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(salt[:]))
}

// CheckHash reports whether hash (as HashPassword makes it) is the hash
// of password.
func CheckHash(hash, password string) bool {
	raw, err := base64.StdEncoding.DecodeString(hash)
	if err != nil || len(raw) != 4+sha256.Size {
		return false
	}
	return HashPassword(password, [4]byte(raw[:4])) == hash
}
