// Package auth is the shopbus authentication service: accounts with an
// e-mail address and a password, login sessions identified by opaque
// tokens, and the customer and admin roles.
//
// Passwords are hashed with bcrypt (over a SHA-256 pre-hash, so that
// passwords up to 128 bytes count in full despite bcrypt's 72-byte limit);
// neither a password nor a hash is ever logged or returned. A session
// token is 32 random bytes encoded as base64url; only its SHA-256 is
// stored, as the session document's _id, together with the user's id,
// e-mail address and roles, so Authenticate is one _id lookup and never
// runs bcrypt.
//
// Repeated failed logins lock an e-mail address for a while (see Options).
// The lockout holds under concurrency, across replicas sharing the
// database: every attempt is counted before its password is verified, so
// parallel guesses get no more than Options.MaxFailedLogins passwords
// checked per window. A wrong e-mail address and a wrong password give
// the same unauthenticated error, in comparable time; registering a taken
// address runs bcrypt like registering a free one. bcrypt runs at most
// Options.MaxConcurrentHashes at a time; a request waiting for a turn
// gives up at its deadline.
//
// The admin account (Options.AdminEmail) is never one whose password
// someone else chose: if the address was registered first by a customer,
// start-up replaces that account's password with the configured one and
// ends its sessions before granting the admin role, and logs a warning.
//
// Register, Login, Logout and ChangePassword are applied at most once per
// request id (see internal/idem): a repeat within ten minutes gets the
// first outcome. The request memory, collection "requests", knows a
// request by a hash of its caller's token and its body without the
// passwords, and holds Login's reply, a session token in the clear, until
// it expires: guard the database like the sessions themselves. A repeated
// login gets the remembered session only with the right password.
//
// The bus methods are auth.register, auth.login, auth.authenticate,
// auth.logout and auth.change_password; NewClient calls them and Bind
// serves them.
package auth

import (
	"context"
	"time"

	"github.com/shopbus/shopbus/shop"
)

// ServiceName is the service's name on the bus: the prefix of its methods.
const ServiceName = "auth"

// Method names on the bus.
const (
	MethodRegister       = "auth.register"
	MethodLogin          = "auth.login"
	MethodAuthenticate   = "auth.authenticate"
	MethodLogout         = "auth.logout"
	MethodChangePassword = "auth.change_password"
)

// Password length limits, in bytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// MaxEmailLen is the longest e-mail address accepted, in bytes.
const MaxEmailLen = 254

// Service is the auth contract. *Server (the MongoDB implementation) and
// *Client (the bus client) both satisfy it, and both are a
// shop.Authenticator.
type Service interface {
	// Register creates a customer account. The e-mail address is trimmed
	// and lower-cased; the password must be 8 to 128 bytes. An address
	// already registered gives a conflict error.
	Register(ctx context.Context, r RegisterRequest) (User, error)

	// Login checks the credentials and starts a session. Wrong
	// credentials, and any attempt while the address is locked after
	// too many failures, give an unauthenticated error.
	Login(ctx context.Context, r LoginRequest) (Session, error)

	// Authenticate returns the principal of a live session, or an
	// unauthenticated error for an unknown, ended or expired token.
	Authenticate(ctx context.Context, token string) (shop.Principal, error)

	// Logout ends the session of token. Ending a session that does not
	// exist (any more) is not an error.
	Logout(ctx context.Context, token string) error

	// ChangePassword sets a new password for the caller, whose session
	// token ctx carries (shop.WithToken), after checking the old one. It
	// ends every other session of the user; the caller's stays. A wrong
	// old password is invalid (field old_password) and counts as a failed
	// login towards the address's lockout.
	ChangePassword(ctx context.Context, r ChangePasswordRequest) error
}

// User is an account, as the service shows it: never with its password.
type User struct {
	ID        string      `json:"id"`
	Email     string      `json:"email"`
	Roles     []shop.Role `json:"roles"`
	CreatedAt time.Time   `json:"created_at"`
}

// RegisterRequest asks for a new customer account.
type RegisterRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoginRequest carries credentials.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Session is a started session. Token is the secret the caller presents
// (with shop.WithToken) on later requests; the service keeps only its hash.
type Session struct {
	Token     string    `json:"token"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ChangePasswordRequest carries the caller's current and new password.
type ChangePasswordRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// TokenRequest is the body of auth.authenticate and auth.logout.
type TokenRequest struct {
	Token string `json:"token"`
}

var (
	_ Service            = (*Server)(nil)
	_ Service            = (*Client)(nil)
	_ shop.Authenticator = (*Server)(nil)
	_ shop.Authenticator = (*Client)(nil)
)
