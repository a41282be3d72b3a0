package onvif

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// XML namespaces used in requests. The use-go request types carry literal
// "tds:", "trt:" and "onvif:" prefixes, so the envelope declares them.
const (
	nsSOAP   = "http://www.w3.org/2003/05/soap-envelope"
	nsDevice = "http://www.onvif.org/ver10/device/wsdl"
	nsMedia  = "http://www.onvif.org/ver10/media/wsdl"
	nsSchema = "http://www.onvif.org/ver10/schema"
	nsWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWSU    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

	passwordDigestType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	base64EncodingType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

// createdLayout is the wsu:Created format: UTC with milliseconds.
const createdLayout = "2006-01-02T15:04:05.000Z"

// usernameToken is a WS-Security UsernameToken with a PasswordDigest.
type usernameToken struct {
	Username string
	Nonce    []byte
	Created  string
	Digest   string
}

// newUsernameToken builds a token whose Created time is now in the camera's
// clock; cameras reject tokens more than a few seconds off their own time.
func newUsernameToken(username, password string, cameraNow time.Time) (usernameToken, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return usernameToken{}, fmt.Errorf("nonce: %w", err)
	}
	created := cameraNow.UTC().Format(createdLayout)
	return usernameToken{
		Username: username,
		Nonce:    nonce,
		Created:  created,
		Digest:   passwordDigest(nonce, created, password),
	}, nil
}

// passwordDigest computes the WS-UsernameToken digest
// base64(SHA1(nonce + created + password)).
func passwordDigest(nonce []byte, created, password string) string {
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// buildEnvelope wraps a marshalled request body in a SOAP 1.2 envelope, with
// a WS-Security header when tok is not nil.
func buildEnvelope(body []byte, tok *usernameToken) []byte {
	var b bytes.Buffer
	b.Grow(len(body) + 1024)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString(`<s:Envelope xmlns:s="` + nsSOAP + `" xmlns:tds="` + nsDevice + `" xmlns:trt="` + nsMedia +
		`" xmlns:tt="` + nsSchema + `" xmlns:onvif="` + nsSchema + `">`)
	if tok != nil {
		b.WriteString(`<s:Header><wsse:Security s:mustUnderstand="1" xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `">`)
		b.WriteString(`<wsse:UsernameToken><wsse:Username>`)
		_ = xml.EscapeText(&b, []byte(tok.Username)) // bytes.Buffer writes cannot fail
		b.WriteString(`</wsse:Username><wsse:Password Type="` + passwordDigestType + `">`)
		b.WriteString(tok.Digest)
		b.WriteString(`</wsse:Password><wsse:Nonce EncodingType="` + base64EncodingType + `">`)
		b.WriteString(base64.StdEncoding.EncodeToString(tok.Nonce))
		b.WriteString(`</wsse:Nonce><wsu:Created>`)
		b.WriteString(tok.Created)
		b.WriteString(`</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>`)
	}
	b.WriteString(`<s:Body>`)
	b.Write(body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return b.Bytes()
}

// errNoBody means the data was not a SOAP envelope with a body element.
var errNoBody = errors.New("no soap body")

// decodeResponse decodes the first element of the SOAP body into out, after
// checking its local name is want. A Fault in the body is returned as *Fault.
// Elements are matched by local name only, whatever prefix the camera uses.
func decodeResponse(data []byte, want string, out any) error {
	d := newDecoder(data)
	start, err := bodyElement(d)
	if err != nil {
		return err
	}
	if start.Name.Local == "Fault" {
		return decodeFault(d, start)
	}
	if start.Name.Local != want {
		return fmt.Errorf("unexpected response element %q, want %q", start.Name.Local, want)
	}
	if err := d.DecodeElement(out, &start); err != nil {
		return fmt.Errorf("decode %s: %w", want, err)
	}
	return nil
}

// parseFault returns the SOAP fault in data, or nil if the body holds none.
func parseFault(data []byte) *Fault {
	d := newDecoder(data)
	start, err := bodyElement(d)
	if err != nil || start.Name.Local != "Fault" {
		return nil
	}
	var f *Fault
	if errors.As(decodeFault(d, start), &f) {
		f.notUnderstood = notUnderstood(data)
		return f
	}
	return nil
}

// notUnderstood returns the local names of the header blocks that the
// SOAP 1.2 NotUnderstood elements in the response header name, e.g.
// "Security" for qname="wsse:Security".
func notUnderstood(data []byte) []string {
	d := newDecoder(data)
	var out []string
	for depth := 0; ; {
		tok, err := d.Token()
		if err != nil {
			return out
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Local == "Body" {
				return out // header blocks come before the body
			}
			if depth == 3 && t.Name.Local == "NotUnderstood" && len(out) < 8 {
				for _, a := range t.Attr {
					if a.Name.Local == "qname" {
						out = append(out, localName(a.Value))
					}
				}
			}
		case xml.EndElement:
			depth--
		}
	}
}

func newDecoder(data []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return r, nil
		case "iso-8859-1", "latin1", "latin-1", "windows-1252", "cp1252":
			// windows-1252 differs from latin-1 only in 0x80-0x9f,
			// which camera responses do not use.
			return latin1Reader(r), nil
		}
		// Other labels (GB2312, Shift_JIS from some firmware) are read
		// as UTF-8: the ASCII a SOAP response is nearly always made of
		// parses, anything else fails as invalid UTF-8.
		return r, nil
	}
	return d
}

// latin1Reader converts ISO-8859-1 to UTF-8; some older firmware declares it.
func latin1Reader(r io.Reader) io.Reader {
	data, err := io.ReadAll(r)
	if err != nil {
		return errReader{err}
	}
	var b strings.Builder
	for _, c := range data {
		b.WriteRune(rune(c))
	}
	return strings.NewReader(b.String())
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// bodyElement advances d to the first element inside Envelope/Body.
func bodyElement(d *xml.Decoder) (xml.StartElement, error) {
	depth := 0
	inBody := false
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return xml.StartElement{}, errNoBody
			}
			return xml.StartElement{}, fmt.Errorf("parse soap: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1 && t.Name.Local != "Envelope":
				return xml.StartElement{}, fmt.Errorf("parse soap: root element %q is not Envelope", t.Name.Local)
			case depth == 2 && t.Name.Local == "Body":
				inBody = true
			case depth == 2:
				if err := d.Skip(); err != nil {
					return xml.StartElement{}, fmt.Errorf("parse soap: %w", err)
				}
				depth--
			case depth == 3 && inBody:
				return t, nil
			}
		case xml.EndElement:
			depth--
			if inBody && depth < 2 {
				return xml.StartElement{}, errNoBody
			}
		}
	}
}

// soapFault covers SOAP 1.2 (Code/Reason) and SOAP 1.1 (faultcode/faultstring).
type soapFault struct {
	Code        faultCode `xml:"Code"`
	Reason      []string  `xml:"Reason>Text"`
	FaultCode   string    `xml:"faultcode"`
	FaultString string    `xml:"faultstring"`
}

type faultCode struct {
	Value   string     `xml:"Value"`
	Subcode *faultCode `xml:"Subcode"`
}

func decodeFault(d *xml.Decoder, start xml.StartElement) error {
	var sf soapFault
	if err := d.DecodeElement(&sf, &start); err != nil {
		return fmt.Errorf("decode fault: %w", err)
	}
	f := &Fault{Code: localName(sf.Code.Value)}
	for c, n := sf.Code.Subcode, 0; c != nil && n < 8; c, n = c.Subcode, n+1 {
		if v := localName(c.Value); v != "" {
			f.subcodes = append(f.subcodes, v)
		}
	}
	if len(f.subcodes) > 0 {
		f.Subcode = f.subcodes[len(f.subcodes)-1]
	}
	if len(sf.Reason) > 0 {
		f.Reason = strings.TrimSpace(sf.Reason[0])
	}
	if f.Code == "" {
		f.Code = localName(sf.FaultCode)
	}
	if f.Reason == "" {
		f.Reason = strings.TrimSpace(sf.FaultString)
	}
	return f
}

// localName strips a namespace prefix from a QName value like "ter:NotAuthorized".
func localName(qname string) string {
	qname = strings.TrimSpace(qname)
	if i := strings.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}
