package uplink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStateSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cam1.json")
	tok := Token{Secret: "s1", CamID: 1}
	st, err := LoadState(path, tok)
	if err != nil {
		t.Fatal(err)
	}
	if st != (State{TokenHash: tok.Fingerprint()}) {
		t.Fatalf("missing file gave %+v", st)
	}
	st.SID, st.Pwd, st.UUID, st.ConnID, st.TZ = "sid", "pwd", "uuid", "conn", "Europe/Berlin"
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temp files left: %v", ents)
	}
	got, err := LoadState(path, tok)
	if err != nil || got != st {
		t.Fatalf("reload %+v, %v", got, err)
	}
	b, _ := os.ReadFile(path)
	if len(b) == 0 || strings.Contains(string(b), `"s1"`) {
		t.Errorf("state file holds the token secret: %s", b)
	}
	// A new token discards everything learnt with the old one (docs/protocol.md#state).
	other := Token{Secret: "s2", CamID: 1}
	got, err = LoadState(path, other)
	if err != nil || got != (State{TokenHash: other.Fingerprint()}) {
		t.Fatalf("token change kept state: %+v, %v", got, err)
	}
	if err := RemoveState(path); err != nil {
		t.Fatal(err)
	}
	if err := RemoveState(path); err != nil {
		t.Fatal("second remove:", err)
	}
	os.WriteFile(path, []byte("{garbage"), 0o600)
	if _, err := LoadState(path, tok); err == nil {
		t.Error("corrupt state accepted")
	}
}
