package auth

import (
	"os"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shopbus/shopbus/shop"
)

// Environment variables read by OptionsFromEnv.
const (
	EnvAdminEmail    = "SHOP_ADMIN_EMAIL"
	EnvAdminPassword = "SHOP_ADMIN_PASSWORD"
	EnvBcryptCost    = "SHOP_BCRYPT_COST"
	EnvSessionTTL    = "SHOP_SESSION_TTL"
)

// OptionsFromEnv returns Options from the environment: SHOP_ADMIN_EMAIL
// and SHOP_ADMIN_PASSWORD (set both or neither), SHOP_BCRYPT_COST (an
// integer from 4 to 31) and SHOP_SESSION_TTL (a Go duration such as
// "168h"). Unset variables leave the defaults; a malformed value gives an
// invalid error naming the variable.
func OptionsFromEnv() (Options, error) { return OptionsFromLookup(os.Getenv) }

// OptionsFromLookup is OptionsFromEnv reading each variable with getenv:
// for a program that takes some values elsewhere (host reads
// SHOP_ADMIN_PASSWORD_FILE).
func OptionsFromLookup(getenv func(name string) string) (Options, error) {
	var o Options
	o.AdminEmail = getenv(EnvAdminEmail)
	o.AdminPassword = getenv(EnvAdminPassword)
	if (o.AdminEmail == "") != (o.AdminPassword == "") {
		return Options{}, shop.Invalid("invalid auth environment", EnvAdminEmail, EnvAdminEmail+" and "+EnvAdminPassword+" must be set together")
	}
	if o.AdminEmail != "" {
		if _, msg := normaliseEmail(o.AdminEmail); msg != "" {
			return Options{}, shop.Invalid("invalid auth environment", EnvAdminEmail, msg)
		}
		if msg := checkNewPassword(o.AdminPassword); msg != "" {
			return Options{}, shop.Invalid("invalid auth environment", EnvAdminPassword, msg)
		}
	}
	if v := getenv(EnvBcryptCost); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < bcrypt.MinCost || n > bcrypt.MaxCost {
			return Options{}, shop.Invalid("invalid auth environment", EnvBcryptCost, "must be an integer from 4 to 31")
		}
		o.BcryptCost = n
	}
	if v := getenv(EnvSessionTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Options{}, shop.Invalid("invalid auth environment", EnvSessionTTL, "must be a positive duration such as 168h")
		}
		o.SessionTTL = d
	}
	return o, nil
}
