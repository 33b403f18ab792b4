// Command mongo-init prepares the MongoDB replica set of the standard
// topology (deploy/compose.yaml): it initiates the set, waits for a
// primary, and gives every service a user of its own, then exits 0. It is a
// static Go binary, so its image needs no shell and no mongosh.
//
//	mongo-init                  initiate the set and create the users (below)
//	mongo-init passwords DIR    write a random password for the root user
//	                            (DIR/root) and for every service (DIR/<service>);
//	                            existing files are kept; DIR is private, the
//	                            files readable by all so that compose can
//	                            mount them as secrets
//	mongo-init keyfile FILE     write a random replica set key file (the
//	                            members' shared secret) unless FILE exists,
//	                            mode 0400, owned by SHOP_MONGO_KEYFILE_OWNER
//	                            (default 999:999, the mongo image's mongodb user)
//
// Environment:
//
//	SHOP_MONGO_NODES      comma-separated host:port of the members (default mongo1:27017,mongo2:27017,mongo3:27017)
//	SHOP_MONGO_REPLSET    the replica set name (default rs0)
//	SHOP_MONGO_TIMEOUT    how long to wait for the nodes and the primary (default 2m)
//	SHOP_MONGO_PASSWORDS  directory of the password files that "passwords" writes;
//	                      unset: the servers have no authentication and no user is made
//	SHOP_MONGO_ROOT_USER  the user mongo-init authenticates as (default root), with the
//	                      password in SHOP_MONGO_PASSWORDS/root: the mongo image creates it
//	                      (MONGO_INITDB_ROOT_USERNAME, MONGO_INITDB_ROOT_PASSWORD_FILE)
//	SHOP_DB_PREFIX        database names are <prefix>_<service> (default shop)
//
// Each service of host.Names gets the user <prefix>_<service> in the admin
// database (authSource=admin, the default of a URI without a database)
// with its password from SHOP_MONGO_PASSWORDS/<service> and the role
// readWrite on its own database <prefix>_<service> only. A user that
// exists is updated (password and roles), so running it again is harmless
// and applies a changed password file; an initiated set is left alone.
//
// A server that has no replica sets (such as FerretDB, which the
// end-to-end test substitutes for MongoDB) is reported and accepted as it
// is; each node is then a server of its own and gets the users. FerretDB
// v1 has no roles: its users are made without any, and any of them can
// reach every database (see SECURITY.md).
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/shopbus/shopbus/host"
)

// rootAccount names the root user and its password file.
const rootAccount = "root"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mongo-init:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		switch {
		case args[0] == "passwords" && len(args) == 2:
			return writePasswords(args[1], append([]string{rootAccount}, host.Names...), stdout)
		case args[0] == "keyfile" && len(args) == 2:
			return writeKeyFile(args[1], env("SHOP_MONGO_KEYFILE_OWNER", "999:999"), stdout)
		default:
			return errors.New("usage: mongo-init [passwords DIR | keyfile FILE]")
		}
	}
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	return cfg.initiate(ctx, stdout)
}

// config is what mongo-init does, from the environment.
type config struct {
	nodes   []string
	set     string
	timeout time.Duration
	// root is the user mongo-init authenticates as; empty: none.
	root, rootPassword string
	// users are the services' users to make.
	users []user
}

// user is a service's database user.
type user struct {
	name, password, db string
}

func configFromEnv() (*config, error) {
	cfg := &config{set: env("SHOP_MONGO_REPLSET", "rs0")}
	for _, n := range strings.Split(env("SHOP_MONGO_NODES", "mongo1:27017,mongo2:27017,mongo3:27017"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			cfg.nodes = append(cfg.nodes, n)
		}
	}
	if len(cfg.nodes) == 0 {
		return nil, errors.New("SHOP_MONGO_NODES names no node")
	}
	var err error
	cfg.timeout, err = time.ParseDuration(env("SHOP_MONGO_TIMEOUT", "2m"))
	if err != nil || cfg.timeout <= 0 {
		return nil, fmt.Errorf("SHOP_MONGO_TIMEOUT: want a duration such as 2m, got %q", os.Getenv("SHOP_MONGO_TIMEOUT"))
	}
	dir := os.Getenv("SHOP_MONGO_PASSWORDS")
	if dir == "" {
		return cfg, nil
	}
	cfg.root = env("SHOP_MONGO_ROOT_USER", rootAccount)
	if cfg.rootPassword, err = readPassword(dir, rootAccount); err != nil {
		return nil, err
	}
	prefix := env(host.EnvDBPrefix, host.DefaultDBPrefix)
	for _, name := range host.Names {
		pw, err := readPassword(dir, name)
		if err != nil {
			return nil, err
		}
		db := prefix + "_" + name
		cfg.users = append(cfg.users, user{name: db, password: pw, db: db})
	}
	return cfg, nil
}

// readPassword reads dir/account, without trailing newlines; errors name
// the file, never the content.
func readPassword(dir, account string) (string, error) {
	file := filepath.Join(dir, account)
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("password of %s: %w (write the files with: mongo-init passwords DIR)", account, err)
	}
	pw := strings.TrimRight(string(data), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("password of %s: %s is empty", account, file)
	}
	return pw, nil
}

// initiate connects to every node, initiates the replica set if needed,
// waits for its primary and makes the users.
func (cfg *config) initiate(ctx context.Context, stdout io.Writer) error {
	clients := make([]*mongo.Client, len(cfg.nodes))
	for i, node := range cfg.nodes {
		u := url.URL{Scheme: "mongodb", Host: node, Path: "/", RawQuery: "directConnection=true"}
		if cfg.root != "" {
			u.User = url.UserPassword(cfg.root, cfg.rootPassword)
		}
		c, err := mongo.Connect(options.Client().ApplyURI(u.String()).SetServerSelectionTimeout(2 * time.Second))
		if err != nil {
			return fmt.Errorf("%s: %w", node, err)
		}
		defer c.Disconnect(context.Background())
		clients[i] = c
		if err := retry(ctx, func() error { return c.Ping(ctx, nil) }); err != nil {
			if authFailed(err) {
				return fmt.Errorf("%s refuses user %s: %w (is its password the one in SHOP_MONGO_PASSWORDS/%s?)", node, cfg.root, err, rootAccount)
			}
			return fmt.Errorf("%s does not answer: %w", node, err)
		}
		fmt.Fprintln(stdout, "mongo-init:", node, "answers")
	}
	admin := clients[0].Database("admin")
	err := admin.RunCommand(ctx, bson.D{{Key: "replSetGetStatus", Value: 1}}).Err()
	var cmdErr mongo.CommandError
	switch {
	case err == nil:
		fmt.Fprintln(stdout, "mongo-init: replica set", cfg.set, "already initiated")
	case errors.As(err, &cmdErr) && cmdErr.Code == 94: // NotYetInitialized
		members := bson.A{}
		for i, node := range cfg.nodes {
			members = append(members, bson.D{{Key: "_id", Value: i}, {Key: "host", Value: node}})
		}
		rs := bson.D{{Key: "_id", Value: cfg.set}, {Key: "members", Value: members}}
		if err := admin.RunCommand(ctx, bson.D{{Key: "replSetInitiate", Value: rs}}).Err(); err != nil {
			return fmt.Errorf("replSetInitiate: %w", err)
		}
		fmt.Fprintln(stdout, "mongo-init: initiated replica set", cfg.set, "with", len(cfg.nodes), "members")
	case errors.As(err, &cmdErr) && (cmdErr.Code == 59 || cmdErr.Code == 238 || cmdErr.Code == 76): // CommandNotFound, NotImplemented, NoReplicationEnabled
		fmt.Fprintln(stdout, "mongo-init: the servers have no replica sets (", cmdErr.Message, "); using them as they are")
		for i, c := range clients {
			if err := cfg.makeUsers(ctx, c, cfg.nodes[i], stdout); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("replSetGetStatus: %w", err)
	}
	// Wait until some member is the writable primary, and make the users
	// there.
	var primary int
	err = retry(ctx, func() error {
		for i, c := range clients {
			var hello struct {
				IsWritablePrimary bool `bson:"isWritablePrimary"`
			}
			if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err == nil && hello.IsWritablePrimary {
				primary = i
				return nil
			}
		}
		return errors.New("no primary yet")
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "mongo-init: primary is", cfg.nodes[primary])
	return cfg.makeUsers(ctx, clients[primary], cfg.nodes[primary], stdout)
}

// makeUsers creates or updates every service's user on the server c.
func (cfg *config) makeUsers(ctx context.Context, c *mongo.Client, node string, stdout io.Writer) error {
	if len(cfg.users) == 0 {
		return nil
	}
	admin := c.Database("admin")
	// FerretDB says so in buildInfo; it refuses any role (NotImplemented).
	var info bson.M
	if err := admin.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return fmt.Errorf("%s: buildInfo: %w", node, err)
	}
	_, ferret := info["ferretdbVersion"]
	if ferret {
		fmt.Fprintln(stdout, "mongo-init:", node, "is FerretDB: its users have no roles and reach every database")
	}
	for _, u := range cfg.users {
		roles := bson.A{bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: u.db}}}
		grant := "readWrite on " + u.db
		if ferret {
			roles, grant = bson.A{}, "no roles: FerretDB"
		}
		err := admin.RunCommand(ctx, bson.D{{Key: "createUser", Value: u.name}, {Key: "pwd", Value: u.password}, {Key: "roles", Value: roles}}).Err()
		verb := "created"
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.Code == 51003 { // the user exists
			err = admin.RunCommand(ctx, bson.D{{Key: "updateUser", Value: u.name}, {Key: "pwd", Value: u.password}, {Key: "roles", Value: roles}}).Err()
			verb = "updated"
		}
		if err != nil {
			return fmt.Errorf("%s: user %s: %w", node, u.name, err)
		}
		fmt.Fprintf(stdout, "mongo-init: %s: %s user %s (%s)\n", node, verb, u.name, grant)
	}
	return nil
}

// authFailed reports whether err is the server refusing the credentials
// (AuthenticationFailed): waiting does not help.
func authFailed(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == 18
}

// retry calls f every second until it succeeds, ctx ends or the server
// refuses the credentials.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil || authFailed(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

// writePasswords writes a random password into dir/<account> for every
// account without a file there.
func writePasswords(dir string, accounts []string, stdout io.Writer) error {
	// The directory keeps other users of this machine out; the files are
	// readable by all, because compose mounts them (as secrets) into
	// containers whose processes run as another user.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, a := range accounts {
		path := filepath.Join(dir, a)
		err := writeNew(path, rand.Text(), 0o644)
		if errors.Is(err, os.ErrExist) {
			fmt.Fprintln(stdout, "kept", path)
			continue
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", path)
	}
	return nil
}

// writeKeyFile writes a random key file for the replica set's members
// (1008 base64 characters, within mongod's 6-1024) unless path exists,
// mode 0400 and owned by owner ("uid:gid"), as mongod insists.
func writeKeyFile(path, owner string, stdout io.Writer) error {
	uid, gid, err := parseOwner(owner)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		fmt.Fprintln(stdout, "kept", path)
		return nil
	}
	key := make([]byte, 756)
	rand.Read(key)
	tmp := path + ".tmp"
	_ = os.Remove(tmp) // left by an interrupted run
	if err := writeNew(tmp, base64.StdEncoding.EncodeToString(key)+"\n", 0o400); err != nil {
		return err
	}
	if err := os.Chown(tmp, uid, gid); err != nil {
		return fmt.Errorf("SHOP_MONGO_KEYFILE_OWNER %s: %w", owner, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wrote", path)
	return nil
}

// parseOwner parses "uid:gid".
func parseOwner(s string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(s, ":")
	if uid, err = strconv.Atoi(u); ok && err == nil {
		gid, err = strconv.Atoi(g)
	}
	if !ok || err != nil || uid < 0 || gid < 0 {
		return 0, 0, fmt.Errorf("SHOP_MONGO_KEYFILE_OWNER: want uid:gid such as 999:999, got %q", s)
	}
	return uid, gid, nil
}

// writeNew creates path with content and mode; it fails with os.ErrExist
// if path exists.
func writeNew(path, content string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
