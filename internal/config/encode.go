package config

import (
	"bytes"
	"encoding"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Encode writes c as a YAML configuration file that [Read] and [Parse]
// decode back to c: the keys of the yaml tags in the order of the fields,
// each section a mapping, and every field at its zero value left out, since
// an absent key decodes to the zero value as well. So a configuration built
// in Go (the bootstrap's for the monitor it installs) is written with only
// what it sets, and defaults stay to [Config.Complete].
func (c *Config) Encode() ([]byte, error) {
	n, err := encodeNode(reflect.ValueOf(c).Elem())
	if err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	return b.Bytes(), nil
}

var (
	marshalerType     = reflect.TypeFor[yaml.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// encodeNode encodes v as yaml.v3 would, except that the fields of structs
// (in structs, and in lists of structs) are left out at their zero value.
// Values with their own marshalling, scalars and maps are yaml.v3's.
func encodeNode(v reflect.Value) (*yaml.Node, error) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
		}
		v = v.Elem()
	}
	t := v.Type()
	own := t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) ||
		t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)
	switch {
	case !own && t.Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if err := encodeFields(n, v); err != nil {
			return nil, err
		}
		return n, nil
	case !own && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := range v.Len() {
			e, err := encodeNode(v.Index(i))
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			n.Content = append(n.Content, e)
		}
		return n, nil
	}
	n := new(yaml.Node)
	if err := n.Encode(v.Interface()); err != nil {
		return nil, err
	}
	return n, nil
}

// encodeFields appends the keys and values of the non-zero fields of
// struct v to mapping n, with inline structs flattened as yaml.v3 does.
func encodeFields(n *yaml.Node, v reflect.Value) error {
	t := v.Type()
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
		fv := v.Field(i)
		if fv.IsZero() {
			continue
		}
		if inline := strings.Contains(","+opts+",", ",inline,"); inline {
			for fv.Kind() == reflect.Pointer {
				fv = fv.Elem()
			}
			if fv.Kind() == reflect.Struct {
				if err := encodeFields(n, fv); err != nil {
					return err
				}
				continue
			}
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		val, err := encodeNode(fv)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if val.Kind == yaml.MappingNode && len(val.Content) == 0 && fv.Kind() == reflect.Struct {
			continue // a section whose fields are all zero
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, val)
	}
	return nil
}
