package agent

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// generatedPasswordName is the file in state_dir holding the password the
// agent generates when the config names none.
const generatedPasswordName = "http-password"

// GeneratedPasswordFile is where the agent keeps the status server's
// password when http.password and http.password_hash are not set.
func GeneratedPasswordFile(stateDir string) string {
	return filepath.Join(stateDir, generatedPasswordName)
}

// minGeneratedLen is the shortest content taken from the file; a shorter
// one (emptied, truncated) is replaced.
const minGeneratedLen = 16

// generatedPassword returns the password in the file at path, writing a new
// random one (0600, replaced atomically) when there is none; created says
// it did. A file readable by others is made private.
func generatedPassword(path string) (pass string, created bool, err error) {
	data, err := os.ReadFile(path)
	if err == nil {
		if p := strings.TrimSpace(string(data)); len(p) >= minGeneratedLen {
			if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
				if err := os.Chmod(path, 0o600); err != nil {
					return "", false, err
				}
			}
			return p, false, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	var raw [24]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand)
	pass = base64.RawURLEncoding.EncodeToString(raw[:])
	if err := writePrivate(path, []byte(pass+"\n")); err != nil {
		return "", false, err
	}
	return pass, true, nil
}

// writePrivate writes data to path through a temporary file in the same
// directory (CreateTemp makes it 0600), synced before and after the
// rename so a crash leaves the old file or the new one.
func writePrivate(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
