package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds how many YAML nodes one document may expand to, so alias
// chains ("billion laughs") cannot exhaust memory.
const maxNodes = 100_000

// decoder walks the YAML node tree into the Config by hand rather than with
// yaml.Decoder.KnownFields: the library reports unknown keys and type
// mismatches with a Go type name and no key path, while we want every error
// to say "cameras[1].onvif.url" and what is allowed. It also substitutes
// ${ENV} and credential: in scalar values, after parsing, so a value can
// never change the document's structure (a password containing "#" or ": "
// stays one string).
type decoder struct {
	source string
	lookup func(string) (string, bool)
	lines  map[string]int
	errs   []error
	// refused holds the key paths whose values were refused: they keep
	// their defaults, which Validate must not complain about as well.
	refused []string
	nodes   int
}

var (
	secretType    = reflect.TypeFor[Secret]()
	secretURLType = reflect.TypeFor[SecretURL]()
	durationType  = reflect.TypeFor[time.Duration]()
	cameraType    = reflect.TypeFor[Camera]()

	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// document decodes data into cfg, which already holds the defaults. It
// returns only what stops decoding (a syntax error, a second document); the
// problems of single keys are collected in d.errs, so that the keys after
// them are still decoded and validated.
func (d *decoder) document(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file: defaults only; Validate asks for cameras
		}
		return d.syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			line = 0
		}
		return &FieldError{Source: d.source, Line: line, Msg: "only one YAML document is allowed"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	d.value(root, "", reflect.ValueOf(cfg).Elem())
	return nil
}

// yamlLineRE matches the library's syntax errors, "yaml: line 3: what".
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.+)$`)

// syntaxError reports a YAML syntax error as file:line like every other
// config error, so editors and people find the line the same way.
func (d *decoder) syntaxError(err error) error {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: %w", d.source, err)
	}
	line, _ := strconv.Atoi(m[1])
	return &FieldError{Source: d.source, Line: line, Msg: "YAML syntax: " + m[2], Err: err}
}

// spend counts one visited node and reports whether the document is still
// within maxNodes; aliases and merge keys can make a small file expand to
// an exponential number of nodes.
func (d *decoder) spend(n *yaml.Node, path string) bool {
	d.nodes++
	if d.nodes == maxNodes+1 {
		d.fail(n, path, "document expands to more than %d nodes (too many aliases)", maxNodes)
	}
	return d.nodes <= maxNodes
}

// maxErrors bounds the error list: an aliased mistake repeats per use.
const maxErrors = 20

// capped reports whether the error list hit maxErrors.
func (d *decoder) capped() bool { return len(d.errs) > maxErrors }

// fail reports that the value at path was refused.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.refused = append(d.refused, path)
	d.report(n, path, format, args...)
}

// report adds a problem without marking the value at path refused.
func (d *decoder) report(n *yaml.Node, path, format string, args ...any) {
	if len(d.errs) > maxErrors {
		return
	}
	if len(d.errs) == maxErrors {
		format, args = "too many errors; stopped here", nil
	}
	d.errs = append(d.errs, &FieldError{Source: d.source, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// value decodes n into v. A null node leaves v at its default.
func (d *decoder) value(n *yaml.Node, path string, v reflect.Value) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if !d.spend(n, path) {
		return
	}
	if path != "" {
		if _, ok := d.lines[path]; !ok {
			d.lines[path] = n.Line
		}
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	switch {
	case v.Type() == secretType, v.Type() == secretURLType, v.Type() == durationType,
		reflect.PointerTo(v.Type()).Implements(textUnmarshalerType),
		v.Kind() != reflect.Struct && v.Kind() != reflect.Slice:
		d.scalar(n, path, v)
	case v.Kind() == reflect.Struct:
		d.mapping(n, path, v)
	case v.Kind() == reflect.Slice:
		d.sequence(n, path, v)
	}
}

func (d *decoder) mapping(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping of %s, not %s", strings.Join(keysOf(v.Type()), ", "), kindName(n))
		return
	}
	// Merge keys (<<: *base) first, so keys written out override them
	// wherever they appear.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.merge(n.Content[i+1], path, v)
		}
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		kp := joinPath(path, key)
		if k.Kind != yaml.ScalarNode {
			d.report(k, path, "keys must be plain strings, not %s", kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			continue
		}
		if line, dup := first[key]; dup {
			// The first value stands and is validated.
			d.report(k, kp, "duplicate key (first set on line %d)", line)
			continue
		}
		first[key] = k.Line
		f, ok := fieldByKey(v, key)
		if !ok {
			d.unknownKey(n, k, path, v.Type())
			continue
		}
		d.value(val, kp, f)
	}
}

// unknownKey reports key k of mapping n at path, which type t has no field
// for, with the allowed keys and, when one is a likely typo fix, that one.
func (d *decoder) unknownKey(n, k *yaml.Node, path string, t reflect.Type) {
	allowed := keysOf(t)
	kp := joinPath(path, k.Value)
	hint, ok := suggestKey(k.Value, allowed)
	if !ok {
		d.fail(k, kp, "unknown key; allowed: %s", strings.Join(allowed, ", "))
		return
	}
	d.fail(k, kp, "unknown key; did you mean %s? allowed: %s", hint, strings.Join(allowed, ", "))
	// "nmae: lobby" leaves name unset; "name is required" on top would
	// say the same thing twice.
	if !hasKey(n, hint) {
		d.refused = append(d.refused, joinPath(path, hint))
	}
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// merge applies the value of a "<<" key: a mapping, or a list of them, whose
// keys are decoded as if written in the mapping at path; earlier mappings in
// the list win, as in the YAML merge-key convention.
func (d *decoder) merge(n *yaml.Node, path string, v reflect.Value) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if !d.spend(n, path) {
		return
	}
	if n.Kind == yaml.SequenceNode {
		for i := len(n.Content) - 1; i >= 0; i-- {
			item := n.Content[i]
			for item.Kind == yaml.AliasNode && item.Alias != nil {
				item = item.Alias
			}
			if item.Kind != yaml.MappingNode {
				d.fail(item, joinPath(path, "<<"), "must be a mapping or a list of mappings, not %s", kindName(item))
				continue
			}
			d.mapping(item, path, v)
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, joinPath(path, "<<"), "must be a mapping or a list of mappings, not %s", kindName(n))
		return
	}
	d.mapping(n, path, v)
}

func (d *decoder) sequence(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "must be a list, not %s", kindName(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		e := out.Index(i)
		if v.Type().Elem() == cameraType {
			e.Set(reflect.ValueOf(defaultCamera()))
		}
		d.value(item, path+"["+strconv.Itoa(i)+"]", e)
	}
	v.Set(out)
}

func (d *decoder) scalar(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "must be a single value, not %s", kindName(n))
		return
	}
	s, err := expandEnv(n.Value, d.lookup)
	if err != nil {
		d.fail(n, path, "%v", err)
		return
	}
	if v.Type() == secretType || v.Type() == secretURLType {
		if name, ok := strings.CutPrefix(s, credentialPrefix); ok {
			if s, err = readCredential(name, d.lookup); err != nil {
				d.fail(n, path, "%v", err)
				return
			}
		}
		if v.Type() == secretType {
			v.Set(reflect.ValueOf(Secret{value: s}))
		} else {
			v.Set(reflect.ValueOf(SecretURL{value: s}))
		}
		return
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := u.UnmarshalText([]byte(s)); err != nil {
			d.fail(n, path, "%v", err)
		}
		return
	}
	switch {
	case v.Type() == durationType:
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.fail(n, path, "%q is not a duration (e.g. 10s, 1m30s)", s)
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.Bool:
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.fail(n, path, "%q is not one of true, false", s)
		}
	case v.Kind() == reflect.String:
		v.SetString(s)
	default:
		// Only reachable if a field of a new type is added without
		// teaching the decoder about it.
		d.fail(n, path, "unsupported config field type %s", v.Type())
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

func fieldByKey(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && yamlKey(f) == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func keysOf(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			keys = append(keys, yamlKey(f))
		}
	}
	return keys
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an alias"
}
