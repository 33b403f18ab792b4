// Command brokeraccess writes the RabbitMQ definitions file of a shop's
// least-privilege broker accounts: one user per service of host.Names and
// one for the storefront, with the permissions and topic permissions that
// package deploy/internal/brokeraccess computes, and the namespace's
// exchanges. The broker loads the file at boot (load_definitions in
// rabbitmq.conf) or imports it (rabbitmqctl import_definitions FILE).
//
//	brokeraccess [-o FILE]        write the definitions (default: stdout)
//	brokeraccess passwords DIR    write a random password for every account
//	                              into DIR/<account> (existing files are kept;
//	                              DIR is private, the files readable by all so
//	                              that compose can mount them as secrets)
//	brokeraccess accounts         list account, user name and password variable
//
// Each account's password comes from SHOP_BROKER_PASSWORD_<ACCOUNT> (e.g.
// SHOP_BROKER_PASSWORD_PRODUCT), or from the file that
// SHOP_BROKER_PASSWORD_<ACCOUNT>_FILE names (Docker secrets), or with
// -passwords DIR from DIR/<account>. Other variables:
//
//	SHOP_AMQP_NAMESPACE        the shop's namespace (default "shop")
//	SHOP_BROKER_VHOST          the virtual host (default "/")
//	SHOP_BROKER_ADMIN          name of an operator account with the
//	                           administrator tag (default: none); its password
//	                           is SHOP_BROKER_PASSWORD_<ADMIN>[_FILE]
package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/shopbus/shopbus/deploy/internal/brokeraccess"
	"github.com/shopbus/shopbus/host"
)

// Callers are the accounts that only call services.
var callers = []string{"storefront"}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "brokeraccess:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	plan := brokeraccess.Plan{
		Namespace: os.Getenv(host.EnvAMQPNamespace),
		VHost:     os.Getenv("SHOP_BROKER_VHOST"),
		Services:  host.Names,
		Callers:   callers,
		Admin:     os.Getenv("SHOP_BROKER_ADMIN"),
	}
	accounts, err := plan.Accounts()
	if err != nil {
		return err
	}
	if len(args) > 0 {
		switch args[0] {
		case "passwords":
			if len(args) != 2 {
				return errors.New("usage: brokeraccess passwords DIR")
			}
			return writePasswords(args[1], accounts, stdout)
		case "accounts":
			for _, a := range accounts {
				fmt.Fprintf(stdout, "%s\t%s\t%s\n", a.Name, a.User, passwordVar(a.Name))
			}
			return nil
		}
	}
	fs := flag.NewFlagSet("brokeraccess", flag.ContinueOnError)
	out := fs.String("o", "", "write the definitions to this file (default: stdout)")
	dir := fs.String("passwords", "", "read each account's password from DIR/<account> when its variables are unset")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	passwords := map[string]string{}
	for _, a := range accounts {
		pw, err := password(a.Name, *dir)
		if err != nil {
			return err
		}
		passwords[a.Name] = pw
	}
	defs, err := plan.Definitions(passwords, nil)
	if err != nil {
		return err
	}
	data, err := defs.JSON()
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(data)
		return err
	}
	// The file holds salted hashes only, and the broker (another user in
	// its container) must read it.
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

// passwordVar is the variable holding an account's password.
func passwordVar(account string) string {
	return "SHOP_BROKER_PASSWORD_" + strings.ToUpper(strings.ReplaceAll(account, "-", "_"))
}

// password reads an account's password: its variable, its _FILE variable,
// or dir/<account>. An empty result means none was given.
func password(account, dir string) (string, error) {
	v := passwordVar(account)
	if pw := os.Getenv(v); pw != "" {
		if os.Getenv(v+"_FILE") != "" {
			return "", fmt.Errorf("both %s and %s_FILE are set", v, v)
		}
		return pw, nil
	}
	file := os.Getenv(v + "_FILE")
	if file == "" && dir != "" {
		file = filepath.Join(dir, account)
	}
	if file == "" {
		return "", nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("password of %s: %w", account, err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// writePasswords writes a random password for every account without a
// file in dir.
func writePasswords(dir string, accounts []brokeraccess.Account, stdout io.Writer) error {
	// The directory keeps other users of this machine out; the files are
	// readable by all, because compose mounts them (as secrets) into
	// containers whose processes run as another user.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, a := range accounts {
		path := filepath.Join(dir, a.Name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			fmt.Fprintln(stdout, "kept", path)
			continue
		}
		if err != nil {
			return err
		}
		_, err = f.WriteString(rand.Text())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", path)
	}
	return nil
}
