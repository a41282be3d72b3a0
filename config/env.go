package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// expandEnv replaces ${NAME} with the value of the environment variable NAME
// and $$ with a single $. A $ followed by anything else stays as it is, so
// passwords containing a lone $ need no escaping. An unset variable is an
// error naming it; a set-but-empty one expands to "".
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", errors.New(`unterminated "${" (write $$ for a literal $)`)
			}
			name := s[i+2 : i+2+end]
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid environment variable name %q in ${...}", name)
			}
			v, ok := lookup(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			b.WriteString(v)
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String(), nil
}

func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// credentialPrefix marks a secret read from a systemd credential:
// "credential:NAME" reads $CREDENTIALS_DIRECTORY/NAME (see LoadCredential= in
// systemd.exec(5)), so the secret never sits in the config file or the
// environment.
const credentialPrefix = "credential:"

// readCredential returns the contents of $CREDENTIALS_DIRECTORY/name without
// its trailing newline.
func readCredential(name string, lookup func(string) (string, bool)) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("credential name %q must be a plain file name", name)
	}
	dir, ok := lookup("CREDENTIALS_DIRECTORY")
	if !ok || dir == "" {
		return "", fmt.Errorf("credential %q: CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the systemd unit)", name)
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", fmt.Errorf("read credential %q: %w", name, err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}
