package onvif

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/camagent/camagent/onvif/onvifsim"
)

func TestCellMotionReadModifyReadBack(t *testing.T) {
	sim, c := connectSim(t, onvifsim.Options{})
	ctx := testCtx(t)
	if c.Services().Analytics == "" {
		t.Fatal("analytics service not learned")
	}
	for _, tok := range []string{"Profile_1", "", "VideoAnalyticsConfig_1"} {
		m, err := c.MotionConfig(ctx, tok)
		if err != nil {
			t.Fatalf("motion config %q: %v", tok, err)
		}
		if m.Columns != 22 || m.Rows != 18 || len(m.Active) != 22*18 || m.Sensitivity != 50 ||
			m.RuleName != "MyMotionDetectorRule" || m.ModuleName != "MyCellMotionModule" || m.ConfigToken != "VideoAnalyticsConfig_1" {
			t.Fatalf("motion config %q: %+v", tok, m)
		}
		for i, a := range m.Active {
			if !a {
				t.Fatalf("cell %d inactive on a fresh camera", i)
			}
		}
	}

	// Watch only the lower-right quarter; ask for more sensitivity than
	// the camera allows.
	want := make([]bool, 22*18)
	for r := 9; r < 18; r++ {
		for col := 11; col < 22; col++ {
			want[r*22+col] = true
		}
	}
	got, err := c.SetMotionConfig(ctx, "Profile_1", CellMotion{Columns: 22, Rows: 18, Active: want, Sensitivity: 150})
	if err != nil {
		t.Fatal(err)
	}
	if got.Sensitivity != 100 {
		t.Fatalf("sensitivity read back %d, want the camera's clamp 100", got.Sensitivity)
	}
	if !equalCells(got.Active, want) {
		t.Fatal("cells read back differ from what was set")
	}
	// What the camera stored, decoded by the simulator's own PackBits.
	cols, rows, cells := sim.MotionCells()
	if cols != 22 || rows != 18 || !equalCells(cells, want) || sim.MotionSensitivity() != 100 {
		t.Fatalf("camera holds %dx%d sensitivity %d, cells match %v", cols, rows, sim.MotionSensitivity(), equalCells(cells, want))
	}

	// Changing only the sensitivity sends only the module.
	before := count(sim.Requests(), "ModifyRules")
	if got, err = c.SetMotionConfig(ctx, "", CellMotion{Active: want, Sensitivity: 20}); err != nil || got.Sensitivity != 20 {
		t.Fatalf("set sensitivity: %+v %v", got.Sensitivity, err)
	}
	if n := count(sim.Requests(), "ModifyRules"); n != before {
		t.Fatal("rule rewritten although cells were unchanged")
	}

	// A grid of another shape is refused before anything is sent.
	mods := count(sim.Requests(), "ModifyAnalyticsModules")
	if _, err := c.SetMotionConfig(ctx, "", CellMotion{Columns: 8, Rows: 6, Active: make([]bool, 48), Sensitivity: 1}); err == nil {
		t.Fatal("8x6 grid accepted by a 22x18 camera")
	}
	if count(sim.Requests(), "ModifyAnalyticsModules") != mods {
		t.Fatal("modify sent for a refused grid")
	}
}

func TestCellMotionSmallLayout(t *testing.T) {
	sim, c := connectSim(t, onvifsim.Options{CellColumns: 8, CellRows: 6, MotionStyle: onvifsim.MotionStyleMotionAlarm})
	ctx := testCtx(t)
	want := make([]bool, 48)
	want[0], want[47] = true, true
	got, err := c.SetMotionConfig(ctx, "Profile_2", CellMotion{Active: want, Sensitivity: 50})
	if err != nil {
		t.Fatal(err)
	}
	if got.Columns != 8 || got.Rows != 6 || !equalCells(got.Active, want) {
		t.Fatalf("got %+v", got)
	}
	if _, _, cells := sim.MotionCells(); !equalCells(cells, want) {
		t.Fatal("camera cells differ")
	}
}

func TestCellMotionUnsupported(t *testing.T) {
	_, c := connectSim(t, onvifsim.Options{NoAnalytics: true})
	ctx := testCtx(t)
	if _, err := c.MotionConfig(ctx, "Profile_1"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("motion config = %v, want ErrUnsupported", err)
	}
	if _, err := c.SetMotionConfig(ctx, "Profile_1", CellMotion{}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("set motion config = %v, want ErrUnsupported", err)
	}
}

// Analytics responses in vendor shapes: the module and rule are found by
// type whatever the prefixes, and everything else is kept for writing back.
var cellMotionCases = []struct {
	name    string
	modules string
	rules   string
	want    CellMotion
	err     bool
}{
	{
		name: "axis default namespaces, float sensitivity",
		modules: `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"><SOAP-ENV:Body>
<GetAnalyticsModulesResponse xmlns="http://www.onvif.org/ver20/analytics/wsdl"><AnalyticsModule Name="Cell" Type="tt:CellMotionEngine" xmlns:tt="http://www.onvif.org/ver10/schema">
<Parameters xmlns="http://www.onvif.org/ver10/schema"><SimpleItem Name="Sensitivity" Value="60.0"/><ElementItem Name="Layout"><CellLayout Columns="8" Rows="6"><Transformation><Translate x="-1" y="-1"/><Scale x="0.25" y="0.333"/></Transformation></CellLayout></ElementItem></Parameters>
</AnalyticsModule></GetAnalyticsModulesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
		rules: `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"><SOAP-ENV:Body>
<GetRulesResponse xmlns="http://www.onvif.org/ver20/analytics/wsdl"><Rule Name="Motion" Type="axt:CellMotionDetector" xmlns:axt="http://www.onvif.org/ver10/schema">
<Parameters xmlns="http://www.onvif.org/ver10/schema"><SimpleItem Name="MinCount" Value="2"/><SimpleItem Name="ActiveCells" Value="/gD+Dw=="/></Parameters>
</Rule></GetRulesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
		want: CellMotion{Columns: 8, Rows: 6, Sensitivity: 60, RuleName: "Motion", ModuleName: "Cell",
			Active: func() []bool {
				a := make([]bool, 48)
				for r := 3; r < 6; r++ {
					for c := 4; c < 8; c++ {
						a[r*8+c] = true
					}
				}
				return a
			}()},
	},
	{
		name: "hikvision prefixes, all cells zP8=, tamper module first",
		modules: `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tan="http://www.onvif.org/ver20/analytics/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body><tan:GetAnalyticsModulesResponse>
<tan:AnalyticsModule Name="MyTamperDetecModule" Type="hikxsd:TamperEngine"><tt:Parameters><tt:SimpleItem Name="Sensitivity" Value="0"/></tt:Parameters></tan:AnalyticsModule>
<tan:AnalyticsModule Name="MyCellMotionModule" Type="tt:CellMotionEngine"><tt:Parameters><tt:SimpleItem Name="Sensitivity" Value="80"/><tt:ElementItem Name="Layout"><tt:CellLayout Columns="22" Rows="18"><tt:Transformation><tt:Translate x="-1.000000" y="-1.000000"/><tt:Scale x="0.090909" y="0.111111"/></tt:Transformation></tt:CellLayout></tt:ElementItem></tt:Parameters></tan:AnalyticsModule>
</tan:GetAnalyticsModulesResponse></env:Body></env:Envelope>`,
		rules: `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tan="http://www.onvif.org/ver20/analytics/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body><tan:GetRulesResponse>
<tan:Rule Name="MyMotionDetectorRule" Type="tt:CellMotionDetector"><tt:Parameters><tt:SimpleItem Name="MinCount" Value="5"/><tt:SimpleItem Name="AlarmOnDelay" Value="1000"/><tt:SimpleItem Name="AlarmOffDelay" Value="1000"/><tt:SimpleItem Name="ActiveCells" Value="zP8="/></tt:Parameters></tan:Rule>
</tan:GetRulesResponse></env:Body></env:Envelope>`,
		want: CellMotion{Columns: 22, Rows: 18, Sensitivity: 80, RuleName: "MyMotionDetectorRule", ModuleName: "MyCellMotionModule",
			Active: func() []bool {
				a := make([]bool, 22*18)
				for i := range a {
					a[i] = true
				}
				return a
			}()},
	},
	{
		name:    "no layout",
		modules: `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetAnalyticsModulesResponse><AnalyticsModule Name="m" Type="tt:CellMotionEngine"/></GetAnalyticsModulesResponse></e:Body></e:Envelope>`,
		rules:   `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetRulesResponse><Rule Name="r" Type="tt:CellMotionDetector"><Parameters><SimpleItem Name="ActiveCells" Value="zP8="/></Parameters></Rule></GetRulesResponse></e:Body></e:Envelope>`,
		err:     true,
	},
	{
		name:    "short active cells",
		modules: `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetAnalyticsModulesResponse><AnalyticsModule Name="m" Type="tt:CellMotionEngine"><Parameters><ElementItem Name="Layout"><CellLayout Columns="22" Rows="18"/></ElementItem></Parameters></AnalyticsModule></GetAnalyticsModulesResponse></e:Body></e:Envelope>`,
		rules:   `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><GetRulesResponse><Rule Name="r" Type="tt:CellMotionDetector"><Parameters><SimpleItem Name="ActiveCells" Value="/wA="/></Parameters></Rule></GetRulesResponse></e:Body></e:Envelope>`,
		err:     true,
	},
}

// parseCellMotion decodes recorded GetAnalyticsModules and GetRules
// responses the way MotionConfig does.
func parseCellMotion(modules, rules []byte) (CellMotion, error) {
	var mr analyticsModulesResponse
	if err := decodeResponse(modules, "GetAnalyticsModulesResponse", &mr); err != nil {
		return CellMotion{}, err
	}
	var rr analyticsRulesResponse
	if err := decodeResponse(rules, "GetRulesResponse", &rr); err != nil {
		return CellMotion{}, err
	}
	var mod, rule *analyticsConfig
	for i := range mr.Modules {
		if localName(mr.Modules[i].Type) == "CellMotionEngine" {
			mod = &mr.Modules[i]
		}
	}
	for i := range rr.Rules {
		if localName(rr.Rules[i].Type) == "CellMotionDetector" {
			rule = &rr.Rules[i]
		}
	}
	if mod == nil || rule == nil {
		return CellMotion{}, ErrUnsupported
	}
	m, err := cellMotionFrom("", mod, rule)
	if err != nil {
		return m, err
	}
	// Writing back must be possible and keep the layout.
	var b bytes.Buffer
	if err := mod.encode(&b, "AnalyticsModule"); err != nil {
		return m, err
	}
	if !bytes.Contains(b.Bytes(), []byte(fmt.Sprintf(`Columns="%d" Rows="%d"`, m.Columns, m.Rows))) {
		return m, fmt.Errorf("layout lost in %s", b.Bytes())
	}
	return m, nil
}

func TestParseCellMotion(t *testing.T) {
	for _, tc := range cellMotionCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCellMotion([]byte(tc.modules), []byte(tc.rules))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if tc.err {
				return
			}
			if got.Columns != tc.want.Columns || got.Rows != tc.want.Rows || got.Sensitivity != tc.want.Sensitivity ||
				got.RuleName != tc.want.RuleName || got.ModuleName != tc.want.ModuleName || !equalCells(got.Active, tc.want.Active) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseCellMotion(f *testing.F) {
	for _, tc := range cellMotionCases {
		f.Add([]byte(tc.modules), []byte(tc.rules))
	}
	f.Fuzz(func(t *testing.T, modules, rules []byte) {
		m, err := parseCellMotion(modules, rules)
		if err == nil && len(m.Active) != m.Columns*m.Rows {
			t.Fatalf("%d cells for %dx%d", len(m.Active), m.Columns, m.Rows)
		}
	})
}
