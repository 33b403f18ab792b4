// Command ferretdb serves a MongoDB-compatible database (FerretDB v1 with
// its SQLite backend) on one port: the stand-in for MongoDB in the
// end-to-end test, where MongoDB images cannot be pulled. It is not part of
// the standard topology, which uses MongoDB itself.
//
//	ferretdb -addr :27017 -dir /data/db [-auth-user root -auth-password-file FILE]
//
// With a user, it requires authentication (FerretDB's SCRAM mode, see
// embedmongo.WithAuth) and creates that user with the file's password on
// its first start (when the directory has no admin database yet). Like the
// mongo image, it also takes the user and password from
// MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD, or their
// _FILE variants (Docker secrets), so that compose gives both images the
// same settings. FerretDB v1 authenticates but does not authorise: any
// user reaches every database (SECURITY.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/shopbus/shopbus/internal/embedmongo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ferretdb", flag.ContinueOnError)
	addr := fs.String("addr", ":27017", "listen address")
	dir := fs.String("dir", "/data/db", "directory of the SQLite files")
	user := fs.String("auth-user", "", "require authentication; create this user on the first start (default $MONGO_INITDB_ROOT_USERNAME[_FILE])")
	passwordFile := fs.String("auth-password-file", "", "file holding the user's password (default $MONGO_INITDB_ROOT_PASSWORD[_FILE])")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	auth, err := authOption(*user, *passwordFile)
	if err != nil {
		return err
	}
	opts := []embedmongo.Option{embedmongo.WithAddr(*addr)}
	if auth != nil {
		opts = append(opts, auth)
	}
	srv, err := embedmongo.Start(ctx, *dir, opts...)
	if err != nil {
		return err
	}
	mode := "without authentication"
	if auth != nil {
		mode = "with authentication"
	}
	fmt.Fprintln(stdout, "ferretdb: serving", srv.URI(), "from", *dir, mode)
	<-ctx.Done()
	srv.Stop()
	return nil
}

// authOption returns the WithAuth option the flags or the environment ask
// for, or nil for none.
func authOption(user, passwordFile string) (embedmongo.Option, error) {
	var err error
	if user == "" {
		if user, err = fromEnv("MONGO_INITDB_ROOT_USERNAME"); err != nil {
			return nil, err
		}
	}
	var password string
	if passwordFile != "" {
		password, err = readSecret("-auth-password-file", passwordFile)
	} else {
		password, err = fromEnv("MONGO_INITDB_ROOT_PASSWORD")
	}
	switch {
	case err != nil:
		return nil, err
	case user == "" && password == "":
		return nil, nil
	case user == "":
		return nil, errors.New("a password is given but no user: set -auth-user or MONGO_INITDB_ROOT_USERNAME")
	case password == "":
		return nil, fmt.Errorf("user %q has no password: set -auth-password-file or MONGO_INITDB_ROOT_PASSWORD_FILE", user)
	}
	return embedmongo.WithAuth(user, password), nil
}

// fromEnv returns variable name's value, or the content of the file that
// name_FILE names (not both).
func fromEnv(name string) (string, error) {
	value, file := os.Getenv(name), os.Getenv(name+"_FILE")
	switch {
	case file == "":
		return value, nil
	case value != "":
		return "", fmt.Errorf("both %s and %s_FILE are set: set one of them", name, name)
	}
	return readSecret(name+"_FILE", file)
}

// readSecret returns the content of file without trailing newlines; what
// names it (a flag or a variable) is in the errors, never the content.
func readSecret(what, file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	value := strings.TrimRight(string(data), "\r\n")
	if value == "" {
		return "", fmt.Errorf("%s: %s is empty", what, file)
	}
	return value, nil
}
