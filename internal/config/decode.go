package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decode reads a configuration in two passes. The first parses the YAML
// into a node tree and walks it alongside the Go types of [Config]
// (checkNodes), so that every unknown key and every value of the wrong type
// is reported with its field path, e.g.
//
//	logs[0].public_key_fil: line 6: field public_key_fil not found; did you mean public_key_file?
//	logs[0].staleness: line 7: "5" is not a duration (use a unit, e.g. 30s)
//
// The second decodes strictly (KnownFields), which then only fails on what
// the walk does not model.
func decode(r io.Reader) (*Config, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding YAML: %w", err)
	}
	if err := checkNodes(&root, reflect.TypeFor[Config]()); err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding YAML: %w", err)
	}
	return &c, nil
}

// maxVisits bounds the node walk: aliases can make a small document a
// very large tree. A document past it is left to the strict decoder, which
// has its own limit on aliasing.
const maxVisits = 1 << 16

// nodeWalker collects the errors of one walk.
type nodeWalker struct {
	errs   []error
	visits int
}

// checkNodes walks root alongside type t and returns the errors.Join of
// one [*FieldError] per unknown key or ill-typed value, in document order.
func checkNodes(root *yaml.Node, t reflect.Type) error {
	var w nodeWalker
	w.walk("", root, t)
	return errors.Join(w.errs...)
}

func (w *nodeWalker) fail(path string, n *yaml.Node, format string, args ...any) {
	if path == "" {
		path = "(top level)"
	}
	w.errs = append(w.errs, &FieldError{Field: path, Err: fmt.Errorf("line %d: "+format, append([]any{n.Line}, args...)...)})
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
	configDurationType  = reflect.TypeFor[Duration]()
)

func (w *nodeWalker) walk(path string, n *yaml.Node, t reflect.Type) {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind == 0 {
		return
	}
	if w.visits++; w.visits > maxVisits {
		return
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) > 0 {
			w.walk(path, n.Content[0], t)
		}
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // the zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isLeaf(t) {
		w.leaf(path, n, t)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.fail(path, n, "want a mapping of keys, got %s", describeNode(n))
			return
		}
		w.mapping(path, n, t, map[string]int{})
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			w.fail(path, n, "want a list, got %s", describeNode(n))
			return
		}
		for i, e := range n.Content {
			w.walk(fmt.Sprintf("%s[%d]", path, i), e, t.Elem())
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.fail(path, n, "want a mapping, got %s", describeNode(n))
			return
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				continue // left to the strict decoder
			}
			p := mapKeyPath(path, k.Value)
			if line, dup := seen[k.Value]; dup {
				w.fail(p, k, "key %q already set at line %d", k.Value, line)
				continue
			}
			seen[k.Value] = k.Line
			w.walk(p, n.Content[i+1], t.Elem())
		}
	}
	// Interfaces and other kinds take any value.
}

// mapping checks the keys of mapping node n against struct type t. seen
// holds the keys already set (with their lines) so that merged mappings
// (<<: *anchor) do not count as duplicates of the keys they are merged
// under.
func (w *nodeWalker) mapping(path string, n *yaml.Node, t reflect.Type, seen map[string]int) {
	fields := structFields(t)
	var merges []*yaml.Node
	own := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		for k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			continue // left to the strict decoder
		}
		if k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge") {
			merges = append(merges, v)
			continue
		}
		p := joinPath(path, k.Value)
		if line, dup := own[k.Value]; dup {
			w.fail(p, k, "key %s already set at line %d", k.Value, line)
			continue
		}
		own[k.Value] = k.Line
		if _, done := seen[k.Value]; done {
			continue // set by the mapping this one is merged into
		}
		ft, ok := fields.types[k.Value]
		if !ok {
			msg := "field " + k.Value + " not found"
			if h, ok := keyHints[k.Value]; ok {
				msg += "; " + h
			} else if s := suggest(k.Value, fields, t); s != "" {
				msg += "; did you mean " + s + "?"
			}
			w.fail(p, k, "%s", msg)
			continue
		}
		w.walk(p, v, ft)
	}
	for k, line := range own {
		seen[k] = line
	}
	// Merged mappings come after the mapping's own keys, which win.
	for _, m := range merges {
		for m != nil && m.Kind == yaml.AliasNode {
			m = m.Alias
		}
		if m == nil {
			continue
		}
		switch m.Kind {
		case yaml.MappingNode:
			if w.visits++; w.visits <= maxVisits {
				w.mapping(path, m, t, seen)
			}
		case yaml.SequenceNode:
			for _, e := range m.Content {
				for e != nil && e.Kind == yaml.AliasNode {
					e = e.Alias
				}
				if e != nil && e.Kind == yaml.MappingNode {
					if w.visits++; w.visits <= maxVisits {
						w.mapping(path, e, t, seen)
					}
				} else if e != nil {
					w.fail(path, e, "a merge (<<) needs a mapping or a list of mappings, got %s", describeNode(e))
				}
			}
		default:
			w.fail(path, m, "a merge (<<) needs a mapping or a list of mappings, got %s", describeNode(m))
		}
	}
}

// keyHints explain keys that are missing on purpose.
var keyHints = map[string]string{
	"insecure_skip_verify": "TLS verification cannot be turned off (set ca_file to trust a private CA)",
	"insecure":             "TLS verification cannot be turned off (set ca_file to trust a private CA)",
}

// isLeaf reports whether values of t are decoded whole rather than walked:
// scalars, and types with their own YAML or text unmarshalling.
func isLeaf(t reflect.Type) bool {
	if t == durationType || t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) ||
		t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Array, reflect.Map, reflect.Pointer, reflect.Interface:
		return false
	}
	return true
}

// leaf checks that n decodes into a value of type t.
func (w *nodeWalker) leaf(path string, n *yaml.Node, t reflect.Type) {
	if t == durationType || t == configDurationType {
		if n.Kind != yaml.ScalarNode {
			w.fail(path, n, "want a duration (e.g. 30s), got %s", describeNode(n))
		} else if _, err := time.ParseDuration(n.Value); err != nil {
			w.fail(path, n, "%s", durationMessage(n.Value))
		}
		return
	}
	custom := t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)
	if !custom && n.Kind != yaml.ScalarNode {
		w.fail(path, n, "want %s, got %s", describeType(t), describeNode(n))
		return
	}
	intKind := false
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		intKind = !custom
	}
	// yaml.v3 truncates floats into integers, and turns integers too large
	// for uint64 (resolved as floats) into whatever the conversion gives.
	if intKind && n.ShortTag() != "!!int" {
		if n.ShortTag() == "!!float" && isDigits(strings.TrimLeft(n.Value, "+-")) {
			w.fail(path, n, "%s is out of range", n.Value)
		} else {
			w.fail(path, n, "%q is not a whole number", n.Value)
		}
		return
	}
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if custom {
			break
		}
		switch {
		case n.ShortTag() != "!!int":
			w.fail(path, n, "%q is not a whole number", n.Value)
		case strings.HasPrefix(n.Value, "-") && t.Kind() >= reflect.Uint:
			w.fail(path, n, "%s must not be negative", n.Value)
		default:
			w.fail(path, n, "%s is out of range", n.Value)
		}
		return
	case reflect.Bool:
		if !custom {
			w.fail(path, n, "%q is not true or false", n.Value)
			return
		}
	}
	w.fail(path, n, "%s", yamlMessage(err))
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// durationMessage explains why s is not a duration.
func durationMessage(s string) string {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return fmt.Sprintf("%q is not a duration (use a unit, e.g. 30s)", s)
	}
	return fmt.Sprintf("%q is not a duration (e.g. 30s, 5m, 1h30m)", s)
}

// yamlMessage strips the "yaml: unmarshal errors: line N:" framing from a
// Node.Decode error: the caller adds the field and line.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := te.Errors[0]
		if strings.HasPrefix(msg, "line ") {
			if i := strings.Index(msg, ": "); i >= 0 {
				msg = msg[i+2:]
			}
		}
		return msg
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// describeNode names what n is, for "want X, got Y" messages.
func describeNode(n *yaml.Node) string {
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

// describeType names what a value of leaf type t is.
func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	}
	return "a single value"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapKeyPath is the path of a map value: path.key, or path["key"] when the
// key is not a plain word.
func mapKeyPath(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return joinPath(path, key)
	}
	return fmt.Sprintf("%s[%q]", path, key)
}

// knownFields are the YAML keys of a struct type, in declaration order.
type knownFields struct {
	names []string
	types map[string]reflect.Type
}

// structFields returns the keys of struct type t as yaml.v3 decodes them:
// the name from the yaml tag or the lower-cased field name, inline structs
// flattened, "-" and unexported fields skipped.
func structFields(t reflect.Type) knownFields {
	k := knownFields{types: map[string]reflect.Type{}}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("yaml")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			inline := false
			for _, o := range strings.Split(opts, ",") {
				inline = inline || o == "inline"
			}
			if inline {
				ft := f.Type
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					add(ft)
				}
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if _, dup := k.types[name]; !dup {
				k.names = append(k.names, name)
				k.types[name] = f.Type
			}
		}
	}
	add(t)
	return k
}

// suggest returns the known key of t nearest to key, or "" when none is
// near enough. Failing that, it names a key of a nested section that has
// exactly this name (staleness at the top level: logs[].staleness).
func suggest(key string, fields knownFields, t reflect.Type) string {
	best, bestD := "", -1
	for _, name := range fields.names {
		d := editDistance(key, name)
		if bestD < 0 || d < bestD {
			best, bestD = name, d
		}
	}
	if best != "" && bestD <= max(2, len(best)/3) {
		return best
	}
	for _, name := range fields.names {
		if len(key) >= 4 && (strings.HasPrefix(name, key) || strings.HasPrefix(key, name)) {
			return name
		}
	}
	var nested []string
	for _, name := range fields.names {
		ft := fields.types[name]
		suffix := ""
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array {
			if ft.Kind() != reflect.Pointer {
				suffix = "[]"
			}
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Struct || isLeaf(ft) || ft == t {
			continue
		}
		if _, ok := structFields(ft).types[key]; ok {
			nested = append(nested, name+suffix+"."+key)
		}
	}
	if len(nested) == 1 {
		return nested[0]
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent
// bytes each cost 1.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		// Keys this long are not typos of ours; do not spend time on them.
		return max(len(a), len(b))
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
