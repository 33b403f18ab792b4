package embedmongo

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// WithAuth turns on FerretDB's authentication, its experimental "new
// auth" mode (what the ferretdb command's --test-enable-new-auth and
// --setup-* flags do): clients authenticate with SCRAM-SHA-256 (or
// SCRAM-SHA-1) against the users in admin.system.users, and every command
// but the handshake (hello, isMaster, ping, buildInfo, saslStart,
// saslContinue, connectionStatus, whatsmyuri, logout) is refused
// with Unauthorized (13) on a connection that has not authenticated.
// createUser, updateUser, dropUser, dropAllUsersFromDatabase and
// usersInfo manage the users.
//
// If dir has no admin database yet, Start creates the user (in the admin
// database, so clients authenticate with authSource=admin, the default)
// with password; otherwise the users already stored are kept, and user and
// password are not checked against them. Both must be non-empty.
//
// FerretDB v1 authenticates but does not authorise: users have no roles
// (createUser accepts only an empty roles array), and any authenticated
// user may read and write every database, admin.system.users included,
// and create, change or drop users. Authentication keeps out clients
// without a password, not one service's user out of another's database.
//
// FerretDB's embeddable package does not expose this mode, so Start sets
// it on the handler behind that package's back (see enableAuth): it works
// with the FerretDB version in go.mod, v1.24.2, and the tests show it.
func WithAuth(user, password string) Option {
	return func(o *options) { o.authUser, o.authPassword, o.auth = user, password, true }
}

// Reached through linkname: the handler's unexported methods that New
// runs when the mode is set from the start. initCommands builds the
// command table (wrapping every non-anonymous command in the SCRAM check
// when EnableNewAuth is set); setup creates SetupDatabase and the
// SetupUsername user unless that database exists.
//
//go:linkname ferretInitCommands github.com/FerretDB/FerretDB/internal/handler.(*Handler).initCommands
func ferretInitCommands(h unsafe.Pointer)

//go:linkname ferretSetup github.com/FerretDB/FerretDB/internal/handler.(*Handler).setup
func ferretSetup(h unsafe.Pointer) error

// enableAuth switches f's handler to the new authentication mode and
// creates the first user, before f serves any connection. The path to the
// handler's options is FerretDB.l (*clientconn.Listener) →
// NewListenerOpts.Handler (*handler.Handler) → NewOpts; a field that is
// missing or of another kind (another FerretDB version) is an error, never
// a crash.
func enableAuth(f *ferretdb.FerretDB, user, password string) error {
	listener, err := field(reflect.ValueOf(f).Elem(), "l", reflect.Pointer)
	if err != nil {
		return err
	}
	handler, err := field(listener.Elem(), "Handler", reflect.Pointer) // promoted from *NewListenerOpts
	if err != nil {
		return err
	}
	opts, err := field(handler.Elem(), "NewOpts", reflect.Pointer)
	if err != nil {
		return err
	}
	o := opts.Elem()
	enable, err := field(o, "EnableNewAuth", reflect.Bool)
	if err != nil {
		return err
	}
	setupDB, err := field(o, "SetupDatabase", reflect.String)
	if err != nil {
		return err
	}
	setupUser, err := field(o, "SetupUsername", reflect.String)
	if err != nil {
		return err
	}
	setupPassword, err := field(o, "SetupPassword", reflect.Struct) // password.Password{p string}
	if err != nil {
		return err
	}
	secret, err := field(setupPassword, "p", reflect.String)
	if err != nil {
		return err
	}
	enable.SetBool(true)
	setupDB.SetString("admin")
	setupUser.SetString(user)
	secret.SetString(password)
	h := handler.UnsafePointer()
	ferretInitCommands(h)
	err = ferretSetup(h)
	// The handler keeps no other use for the password.
	secret.SetString("")
	if err != nil {
		return fmt.Errorf("embedmongo: creating user %q: %w", user, err)
	}
	return nil
}

// field returns the settable field name of struct v (a promoted field
// too), checking its kind.
func field(v reflect.Value, name string, kind reflect.Kind) (reflect.Value, error) {
	if v.Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("embedmongo: authentication needs FerretDB v1.24: %s is not a struct", v.Type())
	}
	f := v.FieldByName(name)
	if !f.IsValid() || f.Kind() != kind || (kind == reflect.Pointer && f.IsNil()) {
		return reflect.Value{}, fmt.Errorf("embedmongo: authentication needs FerretDB v1.24: %s has no usable field %s", v.Type(), name)
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem(), nil
}
