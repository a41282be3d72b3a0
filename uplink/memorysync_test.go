package uplink

import (
	"reflect"
	"testing"
	"time"
)

// The spec's synchronization vectors: requests decode into their types,
// statuses re-encode to the identical JSON (progress absent in the reply,
// present in the unsolicited ones).
func TestMemorySyncVectors(t *testing.T) {
	req := `{"cmd":"cam_memorycard_synchronize","msgid":1068,"cam_id":310042,"request_id":"sync-0042","start":"20240314T090000.000","end":"20240314T091000.000","exclude_overlap":true,"cancel_requests":["sync-0041"]}`
	m, err := DecodeMessage([]byte(req))
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeRequest(m)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := r.(*CamMemorycardSynchronize)
	if !ok || s.RequestID != "sync-0042" || s.End.Sub(s.Start.Time) != 10*time.Minute || !s.ExcludeOverlap || !reflect.DeepEqual(s.CancelRequests, []string{"sync-0041"}) {
		t.Fatalf("decoded %T %+v", r, r)
	}
	m, _ = DecodeMessage([]byte(`{"cmd":"cam_memorycard_synchronize_cancel","msgid":1070,"cam_id":310042,"request_id":"sync-0042"}`))
	if c, err := decodeRequest(m); err != nil || c.(*CamMemorycardSynchronizeCancel).RequestID != "sync-0042" {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	sixty := 60
	for _, v := range []struct {
		env  Envelope
		body CamMemorycardSynchronizeStatus
		want string
	}{
		{Envelope{Cmd: CmdCamMemorycardSynchronizeStatus, MsgID: 86, RefID: 1068, OrigCmd: CmdCamMemorycardSynchronize, CamID: 310042},
			CamMemorycardSynchronizeStatus{RequestID: "sync-0042", Status: SyncPending},
			`{"cmd":"cam_memorycard_synchronize_status","msgid":86,"refid":1068,"orig_cmd":"cam_memorycard_synchronize","cam_id":310042,"request_id":"sync-0042","status":"pending"}`},
		{Envelope{Cmd: CmdCamMemorycardSynchronizeStatus, MsgID: 87, CamID: 310042},
			CamMemorycardSynchronizeStatus{RequestID: "sync-0042", Progress: &sixty, Status: SyncPending},
			`{"cmd":"cam_memorycard_synchronize_status","msgid":87,"cam_id":310042,"request_id":"sync-0042","progress":60,"status":"pending"}`},
	} {
		out, err := EncodeMessage(v.env, v.body)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := typedJSON(t, out), typedJSON(t, []byte(v.want)); !reflect.DeepEqual(got, want) {
			t.Errorf("got  %s\nwant %s", out, v.want)
		}
	}
	for _, bad := range []struct{ msg, status string }{
		{`{"cmd":"cam_memorycard_synchronize","msgid":1,"request_id":"a","start":"20240314T090000.000"}`, StatusMissedParam},
		{`{"cmd":"cam_memorycard_synchronize","msgid":1,"request_id":"a","start":"20240314T090000.000","end":"20240314T080000.000"}`, StatusInvalidParam},
		{`{"cmd":"cam_memorycard_synchronize_cancel","msgid":1}`, StatusMissedParam},
	} {
		m, _ := DecodeMessage([]byte(bad.msg))
		_, err := decodeRequest(m)
		if pe, ok := err.(*ParamError); !ok || pe.Status != bad.status {
			t.Errorf("%s: %v, want %s", bad.msg, err, bad.status)
		}
	}
}
