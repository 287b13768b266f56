package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	sgtlog "github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"
)

// MaxBundleSize bounds the size of a bundle this package reads (a bundle
// with a certificate chain, a DSSE envelope and a few entries is tens of
// KiB).
const MaxBundleSize = 4 << 20

// InputError is a bundle that cannot be audited: malformed, truncated, of
// a log this monitor does not watch, or whose checkpoint or inclusion
// proof does not verify. It says nothing about the log's honesty: the
// bundle is wrong (or was tampered with by someone without the log's key).
type InputError struct {
	// Field is the JSON path of the field that is wrong, as the bundle
	// spells it ("verificationMaterial.tlogEntries[0].inclusionProof"), or
	// "" when the bundle as a whole is.
	Field string
	Err   error
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *InputError) Unwrap() error { return e.Err }

func inputErr(field, format string, args ...any) *InputError {
	return &InputError{Field: field, Err: fmt.Errorf(format, args...)}
}

// ParseBundle decodes a Sigstore bundle (JSON, media types v0.1 to v0.3,
// as cosign and sigstore-go write them) and checks what an audit needs of
// each transparency log entry: its log ID, body and an inclusion proof
// with a checkpoint. sigstore-go then validates the bundle and parses each
// entry's body (Rekor v1 and Rekor v2 kinds). Every error is an
// *InputError naming the field.
func ParseBundle(data []byte) (*bundle.Bundle, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, inputErr("", "empty: not a bundle")
	}
	if len(data) > MaxBundleSize {
		return nil, inputErr("", "%d bytes is over the %d byte limit for a bundle", len(data), MaxBundleSize)
	}
	if path, err := checkJSON(data); err != nil {
		return nil, &InputError{Field: path, Err: err}
	}
	pb := new(protobundle.Bundle)
	if err := protojson.Unmarshal(data, pb); err != nil {
		return nil, protoError(data, err)
	}
	if err := checkEntries(pb); err != nil {
		return nil, err
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		return nil, inputErr("", "invalid bundle: %w", err)
	}
	return b, nil
}

// checkEntries checks the fields of pb an audit reads, naming the first
// one that is wrong, then has sigstore-go parse each entry.
func checkEntries(pb *protobundle.Bundle) error {
	if pb.MediaType == "" {
		return inputErr("mediaType", "missing")
	}
	if _, err := (&bundle.Bundle{Bundle: pb}).Version(); err != nil {
		return inputErr("mediaType", "%w", err)
	}
	vm := pb.GetVerificationMaterial()
	if vm == nil {
		return inputErr("verificationMaterial", "missing")
	}
	if len(vm.TlogEntries) == 0 {
		return inputErr("verificationMaterial.tlogEntries", "missing: the bundle has no transparency log entry to audit")
	}
	for i, e := range vm.TlogEntries {
		if err := checkEntry(fmt.Sprintf("verificationMaterial.tlogEntries[%d]", i), e); err != nil {
			return err
		}
	}
	return nil
}

func checkEntry(path string, e *rekorpb.TransparencyLogEntry) error {
	switch {
	case e == nil:
		return inputErr(path, "null")
	case e.LogId == nil || len(e.LogId.KeyId) == 0:
		return inputErr(path+".logId.keyId", "missing")
	case e.KindVersion == nil:
		return inputErr(path+".kindVersion", "missing")
	case len(e.CanonicalizedBody) == 0:
		return inputErr(path+".canonicalizedBody", "missing")
	case e.LogIndex < 0:
		return inputErr(path+".logIndex", "negative (%d)", e.LogIndex)
	}
	p := e.InclusionProof
	switch {
	case p == nil:
		// A v0.1 bundle may carry only the log's promise (a signed entry
		// timestamp), which commits to no tree.
		return inputErr(path+".inclusionProof", "missing: an entry with only an inclusion promise commits to no checkpoint and cannot be audited")
	case p.Checkpoint == nil:
		return inputErr(path+".inclusionProof.checkpoint", "missing")
	case p.Checkpoint.Envelope == "":
		return inputErr(path+".inclusionProof.checkpoint.envelope", "missing")
	case p.TreeSize <= 0:
		return inputErr(path+".inclusionProof.treeSize", "missing or not positive (%d)", p.TreeSize)
	case p.LogIndex < 0 || p.LogIndex >= p.TreeSize:
		return inputErr(path+".inclusionProof.logIndex", "%d is not an index in a tree of size %d", p.LogIndex, p.TreeSize)
	case len(p.RootHash) != 32:
		return inputErr(path+".inclusionProof.rootHash", "%d bytes, want a 32-byte SHA-256", len(p.RootHash))
	}
	for j, h := range p.Hashes {
		if len(h) != 32 {
			return inputErr(fmt.Sprintf("%s.inclusionProof.hashes[%d]", path, j), "%d bytes, want a 32-byte SHA-256", len(h))
		}
	}
	if _, err := sgtlog.ParseTransparencyLogEntry(e); err != nil {
		return inputErr(path, "%w", err)
	}
	return nil
}

// checkJSON reports whether data is one well-formed JSON object; if not,
// it returns the path of the value where it broke off or went wrong.
func checkJSON(data []byte) (string, error) {
	w := newPathWalker(data)
	for {
		err := w.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return w.path(), fmt.Errorf("truncated: the JSON ends at byte %d inside this value", len(data))
			}
			off := w.dec.InputOffset()
			var se *json.SyntaxError
			if errors.As(err, &se) {
				off = se.Offset
			}
			return w.path(), fmt.Errorf("not valid JSON at byte %d: %w", off, err)
		}
		if w.top == 1 && w.rootDone {
			// More after the object: json.Decoder would read it as a second value.
			if rest := bytes.TrimSpace(data[w.dec.InputOffset():]); len(rest) > 0 {
				return "", fmt.Errorf("not valid JSON: data after the bundle's closing brace at byte %d", w.dec.InputOffset())
			}
			break
		}
	}
	if !w.sawObject {
		return "", errors.New("not a bundle: the JSON is not an object")
	}
	return "", nil
}

// protoPos finds the position protojson puts in its errors.
var protoPos = regexp.MustCompile(`\(line (\d+):(\d+)\): `)

// protoError turns a protojson error into an *InputError naming the field
// at the position the error gives.
func protoError(data []byte, err error) *InputError {
	msg := err.Error()
	m := protoPos.FindStringSubmatchIndex(msg)
	if m == nil {
		return inputErr("", "not a bundle: %w", err)
	}
	line, _ := strconv.Atoi(msg[m[2]:m[3]])
	col, _ := strconv.Atoi(msg[m[4]:m[5]])
	detail := msg[m[1]:]
	off := offsetOf(data, line, col)
	return &InputError{Field: pathAt(data, off), Err: errors.New(detail)}
}

// offsetOf converts protojson's 1-based line and column (in runes) to a
// byte offset in data.
func offsetOf(data []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return len(data)
		}
		off += i + 1
	}
	for c := 1; c < col && off < len(data); c++ {
		_, n := utf8.DecodeRune(data[off:])
		off += n
	}
	return off
}

// pathAt returns the JSON path of the value (or key) that starts at byte
// off of data, a well-formed JSON document.
func pathAt(data []byte, off int) string {
	w := newPathWalker(data)
	for {
		start := w.skipSpace()
		if start >= off {
			return w.path()
		}
		if err := w.next(); err != nil {
			return w.path()
		}
		if w.dec.InputOffset() > int64(off) {
			return w.path()
		}
	}
}

// pathWalker reads JSON tokens and keeps the path of the current value.
type pathWalker struct {
	data      []byte
	dec       *json.Decoder
	stack     []frame
	top       int // number of top-level values completed
	rootDone  bool
	sawObject bool
}

type frame struct {
	object    bool
	key       string // object: the current key
	expectKey bool   // object: the next string is a key
	index     int    // array: the current element
}

func newPathWalker(data []byte) *pathWalker {
	return &pathWalker{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
}

// skipSpace returns the offset of the next token.
func (w *pathWalker) skipSpace() int {
	off := int(w.dec.InputOffset())
	for off < len(w.data) {
		switch w.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

// next reads one token and updates the path.
func (w *pathWalker) next() error {
	tok, err := w.dec.Token()
	if err != nil {
		if err == io.EOF && len(w.stack) > 0 {
			return io.ErrUnexpectedEOF
		}
		var se *json.SyntaxError
		if errors.As(err, &se) && strings.Contains(se.Error(), "unexpected end of JSON input") {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
		w.stack = w.stack[:len(w.stack)-1]
		w.valueDone()
		return nil
	}
	if n := len(w.stack); n > 0 {
		f := &w.stack[n-1]
		if f.object && f.expectKey {
			f.key, _ = tok.(string)
			f.expectKey = false
			return nil
		}
		if !f.object {
			f.index++
		}
	}
	if d, ok := tok.(json.Delim); ok {
		if len(w.stack) == 0 && d == '{' {
			w.sawObject = true
		}
		w.stack = append(w.stack, frame{object: d == '{', expectKey: d == '{', index: -1})
		return nil
	}
	w.valueDone()
	return nil
}

// valueDone marks the end of a value in the innermost container.
func (w *pathWalker) valueDone() {
	if n := len(w.stack); n > 0 {
		if f := &w.stack[n-1]; f.object {
			f.key, f.expectKey = "", true
		}
		return
	}
	w.top++
	w.rootDone = true
}

// path formats the current path: the keys and indexes from the root.
func (w *pathWalker) path() string {
	var b strings.Builder
	for _, f := range w.stack {
		switch {
		case f.object && f.key != "":
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		case !f.object && f.index >= 0:
			fmt.Fprintf(&b, "[%d]", f.index)
		}
	}
	return b.String()
}
