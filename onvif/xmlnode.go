package onvif

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
)

// node is a generic XML element. Setters use it for read-modify-write: the
// configuration the camera sent is decoded into a tree, only the requested
// fields are changed, and the tree is sent back. Elements we do not know
// (vendor extensions, multicast settings) therefore survive the round trip,
// and cameras that require the full configuration get it.
type node struct {
	name  xml.Name
	attrs []xml.Attr
	text  string
	kids  []*node
	// typ names the schema type for childOrder when the element name is
	// generic ("Configuration").
	typ string
}

// Limits against hostile or broken responses.
const (
	maxNodeDepth = 32
	maxNodes     = 20000
)

var errTooDeep = errors.New("xml too deep or too large")

// UnmarshalXML builds the tree; it lets node be a field in response structs.
func (n *node) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	n.name = start.Name
	n.attrs = keepAttrs(start.Attr)
	stack := []*node{n}
	count := 1
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if len(stack) >= maxNodeDepth || count > maxNodes {
				return errTooDeep
			}
			k := &node{name: t.Name, attrs: keepAttrs(t.Attr)}
			top.kids = append(top.kids, k)
			stack = append(stack, k)
		case xml.CharData:
			if len(top.kids) == 0 {
				top.text += string(t)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return nil
			}
		}
	}
}

// keepAttrs drops namespace declarations and namespaced attributes (such as
// xsi:type, whose QName value would dangle after re-encoding).
func keepAttrs(in []xml.Attr) []xml.Attr {
	var out []xml.Attr
	for _, a := range in {
		if a.Name.Space == "" && a.Name.Local != "xmlns" {
			out = append(out, a)
		}
	}
	return out
}

// find returns the descendant at path (local names), or nil.
func (n *node) find(path ...string) *node {
	cur := n
	for _, p := range path {
		if cur == nil {
			return nil
		}
		var next *node
		for _, k := range cur.kids {
			if k.name.Local == p {
				next = k
				break
			}
		}
		cur = next
	}
	return cur
}

// findAll returns the children of n named local.
func (n *node) findAll(local string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, k := range n.kids {
		if k.name.Local == local {
			out = append(out, k)
		}
	}
	return out
}

// value returns the trimmed text at path, or "".
func (n *node) value(path ...string) string {
	if k := n.find(path...); k != nil {
		return strings.TrimSpace(k.text)
	}
	return ""
}

// attr returns the trimmed value of attribute local, or "".
func (n *node) attr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.attrs {
		if a.Name.Local == local {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// setAttr sets or adds an attribute.
func (n *node) setAttr(local, v string) {
	for i := range n.attrs {
		if n.attrs[i].Name.Local == local {
			n.attrs[i].Value = v
			return
		}
	}
	n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Local: local}, Value: v})
}

// childOrder gives the XSD sequence of the elements we may add, by parent
// type, so a created element lands where strict cameras expect it.
var childOrder = map[string][]string{
	"ImagingSettings20":     {"BacklightCompensation", "Brightness", "ColorSaturation", "Contrast", "Exposure", "Focus", "IrCutFilter", "Sharpness", "WideDynamicRange", "WhiteBalance", "Extension"},
	"BacklightCompensation": {"Mode", "Level"},
	"WideDynamicRange":      {"Mode", "Level"},
	"VideoEncoderConfiguration": {"Name", "UseCount", "Encoding", "Resolution", "Quality", "RateControl", "MPEG4", "H264",
		"Multicast", "SessionTimeout"},
	"Resolution":                {"Width", "Height"},
	"RateControl":               {"FrameRateLimit", "EncodingInterval", "BitrateLimit"},
	"H264":                      {"GovLength", "H264Profile"},
	"VideoSourceConfiguration":  {"Name", "UseCount", "SourceToken", "Bounds", "Extension"},
	"Extension":                 {"Rotate", "Extension"},
	"Rotate":                    {"Mode", "Degree", "Extension"},
	"AudioEncoderConfiguration": {"Name", "UseCount", "Encoding", "Bitrate", "SampleRate", "Multicast", "SessionTimeout"},
	"AudioOutputConfiguration":  {"Name", "UseCount", "OutputToken", "SendPrimacy", "OutputLevel"},
	"OSDConfiguration":          {"VideoSourceConfigurationToken", "Type", "Position", "TextString", "Image", "Extension"},
	"Position":                  {"Type", "Pos", "Extension"},
	"TextString": {"IsPersistentText", "Type", "DateFormat", "TimeFormat", "FontSize", "FontColor", "BackgroundColor",
		"PlainText", "Extension"},
}

// child returns n's child named local, creating it (in the schema
// namespace, at its XSD position when known) if missing.
func (n *node) child(local string) *node {
	if k := n.find(local); k != nil {
		return k
	}
	k := &node{name: xml.Name{Space: nsSchema, Local: local}}
	typ := n.typ
	if typ == "" {
		typ = n.name.Local
	}
	order := childOrder[typ]
	pos := -1
	for i, o := range order {
		if o == local {
			pos = i
		}
	}
	if pos >= 0 {
		for i, existing := range n.kids {
			for _, later := range order[pos+1:] {
				if existing.name.Local == later {
					n.kids = append(n.kids[:i], append([]*node{k}, n.kids[i:]...)...)
					return k
				}
			}
		}
	}
	n.kids = append(n.kids, k)
	return k
}

// set puts v as the text of the element at path, creating missing elements.
func (n *node) set(v string, path ...string) *node {
	cur := n
	for _, p := range path {
		cur = cur.child(p)
	}
	cur.kids = nil
	cur.text = v
	return cur
}

// remove deletes n's children named local.
func (n *node) remove(local string) {
	kids := n.kids[:0]
	for _, k := range n.kids {
		if k.name.Local != local {
			kids = append(kids, k)
		}
	}
	n.kids = kids
}

// prefixes are declared on every request envelope (see buildEnvelope).
var prefixes = map[string]string{nsSchema: "tt:", nsMedia: "trt:", nsDevice: "tds:"}

// encode writes n as an element named qname (e.g. "trt:Configuration").
// Children in namespaces without a declared prefix carry their own xmlns.
func (n *node) encode(b *bytes.Buffer, qname string) {
	n.encodeAs(b, qname, "")
}

func (n *node) encodeAs(b *bytes.Buffer, qname, xmlns string) {
	b.WriteByte('<')
	b.WriteString(qname)
	if xmlns != "" {
		b.WriteString(` xmlns="`)
		_ = xml.EscapeText(b, []byte(xmlns)) // bytes.Buffer writes cannot fail
		b.WriteByte('"')
	}
	for _, a := range n.attrs {
		b.WriteByte(' ')
		b.WriteString(a.Name.Local)
		b.WriteString(`="`)
		_ = xml.EscapeText(b, []byte(a.Value))
		b.WriteByte('"')
	}
	b.WriteByte('>')
	if len(n.kids) == 0 {
		_ = xml.EscapeText(b, []byte(n.text))
	}
	for _, k := range n.kids {
		if p, ok := prefixes[k.name.Space]; ok {
			k.encodeAs(b, p+k.name.Local, "")
		} else {
			k.encodeAs(b, k.name.Local, k.name.Space)
		}
	}
	b.WriteString("</")
	b.WriteString(qname)
	b.WriteByte('>')
}

// rawRequest is a request body element with hand-built content; XMLName
// carries the service namespace, content uses the envelope's prefixes.
type rawRequest struct {
	XMLName xml.Name
	Inner   []byte `xml:",innerxml"`
}

// newRequest starts a request element local in namespace ns.
func newRequest(ns, local string) *rawRequest {
	return &rawRequest{XMLName: xml.Name{Space: ns, Local: local}}
}

// elem appends <local>v</local> (in the request's namespace), escaped.
func (r *rawRequest) elem(local, v string) *rawRequest {
	var b bytes.Buffer
	b.WriteString("<" + local + ">")
	_ = xml.EscapeText(&b, []byte(v))
	b.WriteString("</" + local + ">")
	r.Inner = append(r.Inner, b.Bytes()...)
	return r
}

// raw appends already-encoded XML.
func (r *rawRequest) raw(s []byte) *rawRequest {
	r.Inner = append(r.Inner, s...)
	return r
}

// withNode appends n encoded as qname.
func (r *rawRequest) withNode(n *node, qname string) *rawRequest {
	var b bytes.Buffer
	n.encode(&b, qname)
	return r.raw(b.Bytes())
}

// emptyResponse accepts any content of a Set...Response.
type emptyResponse struct{}
