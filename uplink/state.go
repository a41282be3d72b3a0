package uplink

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// State is what the agent keeps between runs (docs/protocol.md#state). It is tied to one
// token through TokenHash (Token.Fingerprint) and discarded when the token
// changes or the cloud sends bye DELETED.
type State struct {
	TokenHash string `json:"token_hash"`
	// SID is the last hello.sid, sent back as register.prev_sid.
	SID string `json:"sid,omitempty"`
	// Pwd is configure.pwd, sent as register.pwd.
	Pwd string `json:"pwd,omitempty"`
	// UUID is configure.uuid, sent as cam_register.uuid.
	UUID string `json:"uuid,omitempty"`
	// ConnID is configure.connid (or hello.connid).
	ConnID string `json:"connid,omitempty"`
	// TZ is configure.tz, reported back in register.tz.
	TZ string `json:"tz,omitempty"`
}

// LoadState reads the state file at path for token t. A missing file, or
// one written for another token, yields an empty State bound to t.
func LoadState(path string, t Token) (State, error) {
	fresh := State{TokenHash: t.Fingerprint()}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fresh, nil
	}
	if err != nil {
		return fresh, fmt.Errorf("read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return fresh, fmt.Errorf("parse state %s: %w", path, err)
	}
	if s.TokenHash != fresh.TokenHash {
		return fresh, nil
	}
	return s, nil
}

// Save writes s to path atomically (temp file, fsync, rename) with mode
// 0600, because pwd is a credential.
func (s State) Save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	ok = true
	// Make the rename itself durable; failure here only weakens durability.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// RemoveState deletes the state file (bye DELETED, docs/protocol.md#bye). A missing file is fine.
func RemoveState(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state: %w", err)
	}
	return nil
}
