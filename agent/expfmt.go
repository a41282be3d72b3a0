package agent

import (
	"bufio"
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The Prometheus text exposition format 0.0.4, written by hand: the client
// library and the protobuf it pulls in were 2 MB of a binary that is
// resident whole (docs/performance.md "Memory"). The output is byte for byte
// what client_golang's registry wrote: families sorted by name, labels by
// name, series by label values, values as strconv 'g' floats.

// textContentType is the Content-Type client_golang answered with.
const textContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// metricDesc is one metric family.
type metricDesc struct {
	name, help, typ string
	labels          []string // label names in the order add takes their values
	order           []int    // indexes into labels, sorted by label name
}

func newDesc(name, typ, help string, labels ...string) *metricDesc {
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	return &metricDesc{name: name, help: help, typ: typ, labels: labels, order: order}
}

// series is one sample: label values in the desc's name order.
type series struct {
	values []string
	v      float64
}

type quantile struct{ q, v float64 }

// family is what one scrape collected for a desc.
type family struct {
	d      *metricDesc
	series []series
	// a summary's only series
	quantiles  []quantile
	sum, count float64
}

// exposition collects one scrape.
type exposition struct {
	fams map[*metricDesc]*family
}

func (e *exposition) family(d *metricDesc) *family {
	if e.fams == nil {
		e.fams = map[*metricDesc]*family{}
	}
	f := e.fams[d]
	if f == nil {
		f = &family{d: d}
		e.fams[d] = f
	}
	return f
}

// add records a gauge or counter sample; values are in d.labels' order.
func (e *exposition) add(d *metricDesc, v float64, values ...string) {
	if len(values) != len(d.labels) {
		panic("metrics: " + d.name + " takes " + strconv.Itoa(len(d.labels)) + " label values")
	}
	sorted := make([]string, len(values))
	for i, j := range d.order {
		sorted[i] = values[j]
	}
	f := e.family(d)
	f.series = append(f.series, series{values: sorted, v: v})
}

func (e *exposition) summary(d *metricDesc, qs []quantile, sum, count float64) {
	f := e.family(d)
	f.quantiles, f.sum, f.count = qs, sum, count
}

// write writes the families in the text format.
func (e *exposition) write(w *bufio.Writer) error {
	fams := make([]*family, 0, len(e.fams))
	for _, f := range e.fams {
		fams = append(fams, f)
	}
	slices.SortFunc(fams, func(a, b *family) int { return strings.Compare(a.d.name, b.d.name) })
	for _, f := range fams {
		d := f.d
		w.WriteString("# HELP " + d.name + " ")
		writeEscaped(w, d.help, false)
		w.WriteString("\n# TYPE " + d.name + " " + d.typ + "\n")
		if d.typ == "summary" {
			for _, q := range f.quantiles {
				w.WriteString(d.name + `{quantile="` + formatValue(q.q) + `"} ` + formatValue(q.v) + "\n")
			}
			w.WriteString(d.name + "_sum " + formatValue(f.sum) + "\n")
			w.WriteString(d.name + "_count " + formatValue(f.count) + "\n")
			continue
		}
		slices.SortStableFunc(f.series, func(a, b series) int { return slices.Compare(a.values, b.values) })
		for _, s := range f.series {
			w.WriteString(d.name)
			for i, j := range d.order {
				if i == 0 {
					w.WriteByte('{')
				} else {
					w.WriteByte(',')
				}
				w.WriteString(d.labels[j] + `="`)
				writeEscaped(w, s.values[i], true)
				w.WriteByte('"')
			}
			if len(d.order) > 0 {
				w.WriteByte('}')
			}
			w.WriteString(" " + formatValue(s.v) + "\n")
		}
	}
	return w.Flush()
}

// writeEscaped escapes backslash and newline (HELP text), and the double
// quote too in label values.
func writeEscaped(w *bufio.Writer, s string, quote bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			w.WriteString(`\\`)
		case c == '\n':
			w.WriteString(`\n`)
		case c == '"' && quote:
			w.WriteString(`\"`)
		default:
			w.WriteByte(c)
		}
	}
}

func formatValue(v float64) string {
	switch {
	case v == 0:
		return "0" // also for -0
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64) // NaN too
}

// serveExposition answers a scrape, gzipped when the client prefers it.
func serveExposition(w http.ResponseWriter, r *http.Request, e *exposition) {
	h := w.Header()
	h.Add("Vary", "Accept")
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Type", textContentType)
	var out io.Writer = w
	if negotiateGzip(r.Header.Values("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		defer gz.Close()
		out = gz
	}
	e.write(bufio.NewWriter(out)) // an error is the client gone
}

// negotiateGzip picks gzip over identity as promhttp did: the offer the
// client gives the highest q, identity on a tie, neither when that q is 0.
func negotiateGzip(accept []string) bool {
	best, bestQ := "identity", -1.0
	for _, offer := range []string{"identity", "gzip"} {
		for _, line := range accept {
			for spec := range strings.SplitSeq(line, ",") {
				value, params, _ := strings.Cut(spec, ";")
				value = strings.ToLower(strings.TrimSpace(value))
				q := 1.0
				for p := range strings.SplitSeq(params, ";") {
					if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "q" {
						if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
							q = f
						}
					}
				}
				if q > bestQ && (value == "*" || value == offer) {
					best, bestQ = offer, q
				}
			}
		}
	}
	return best == "gzip" && bestQ != 0
}
