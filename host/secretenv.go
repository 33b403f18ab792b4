package host

import (
	"os"
	"strings"
)

// FileSuffix, appended to the name of a secret variable (SecretVars),
// names a variable holding the path of a file with the secret's value
// instead: SHOP_ADMIN_PASSWORD_FILE=/run/secrets/admin_password, the way
// Docker and Compose mount secrets. A trailing newline is dropped; setting
// both forms is an error.
const FileSuffix = "_FILE"

// SecretVars are the variables ConfigFromEnv also reads from a file named
// by the variable plus FileSuffix. (SHOP_AMQP_PASSWORD_FILE, which puts a
// password into the AMQP URLs, is another way; see EnvAMQPPasswordFile;
// SHOP_MONGO_PASSWORD_FILE does the same for the MongoDB URI.)
var SecretVars = []string{EnvAdminPassword, EnvMongoURI, EnvAMQPURL}

// secretFromEnv returns the value of the secret variable name: the
// variable itself, or the content of the file that name+FileSuffix names.
// Errors are *ConfigError naming the variable and never its value.
func secretFromEnv(name string) (string, error) {
	value := os.Getenv(name)
	fileVar := name + FileSuffix
	file := os.Getenv(fileVar)
	switch {
	case file == "":
		return value, nil
	case value != "":
		return "", &ConfigError{Var: fileVar, Reason: "is set and so is " + name + ": set one of them"}
	}
	return readSecretFile(fileVar, file)
}

// readSecretFile returns the content of file, which the variable fileVar
// names, without trailing newlines. An unreadable or empty file is a
// *ConfigError naming the variable and the file, never the content.
func readSecretFile(fileVar, file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", &ConfigError{Var: fileVar, Reason: "cannot read the file: " + fileError(err)}
	}
	value := strings.TrimRight(string(data), "\r\n")
	if value == "" {
		return "", &ConfigError{Var: fileVar, Reason: file + " is empty"}
	}
	return value, nil
}
