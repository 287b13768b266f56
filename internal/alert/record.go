package alert

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"time"
)

// record is one event in an event file: a file holds one JSON record per
// line. Version is 1; a record of a later version is left for the release
// that wrote it.
type record struct {
	Version  int       `json:"version"`
	Enqueued time.Time `json:"enqueued"`
	Event    Event     `json:"event"`
}

// decodeRecord parses one record line of an event file, as
// json.Unmarshal(b, &rec) does, but faster for the common record: most of
// an entry event's bytes are its entry body, base64 in a JSON string, which
// encoding/json scans byte by byte twice (validating, then decoding) and
// which makes delivery of a catch-up's events CPU-bound. The body is cut out
// and decoded with package base64, and the rest, a few hundred bytes, with
// encoding/json.
//
// The cut is safe because of how Enqueue writes records (encoding/json, in
// struct field order): the first `"body":"` of a record can only be the key
// of Evidence.Entry.Body, since a quote inside a JSON string is escaped and
// no object key before evidence.entry is "body" (identity keys come after
// it); its value is plain base64, and "body" is the entry's last field. A
// record that does not have exactly that shape (written by hand, damaged,
// or any check below failing) is parsed by json.Unmarshal alone, so the
// result is always what json.Unmarshal gives; FuzzDecodeRecord checks this.
func decodeRecord(b []byte, rec *record) error {
	if fastDecodeRecord(b, rec) {
		return nil
	}
	*rec = record{}
	return json.Unmarshal(b, rec)
}

var bodyKey = []byte(`"body":"`)

// placeholder stands in for the body while the rest is decoded: the base64
// of placeholderValue.
var placeholder = []byte(base64.StdEncoding.EncodeToString([]byte(placeholderValue)))

const placeholderValue = "\x00vigil body placeholder\x00"

// minFastBody is the size of body below which cutting it out is not worth it.
const minFastBody = 256

func fastDecodeRecord(b []byte, rec *record) bool {
	i := bytes.Index(b, bodyKey)
	if i < 0 {
		return false
	}
	start := i + len(bodyKey)
	n := bytes.IndexByte(b[start:], '"')
	if n < minFastBody {
		return false
	}
	end := start + n
	enc := b[start:end]
	// The body must be the entry's last field: `"}` follows, and `,` or
	// `{` precedes the key.
	if end+1 >= len(b) || b[end+1] != '}' || i == 0 || (b[i-1] != ',' && b[i-1] != '{') {
		return false
	}
	body := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	m, err := base64.StdEncoding.Strict().Decode(body, enc)
	if err != nil {
		return false
	}
	// The rest, with a placeholder in the body's place. Only if the
	// placeholder is what ends up in Entry.Body was the cut string the
	// body's value (not a duplicate key's that a later one overrides, nor
	// anything else's).
	if bytes.Contains(b, placeholder) {
		return false
	}
	rest := make([]byte, 0, len(b)-len(enc)+len(placeholder))
	rest = append(append(append(rest, b[:start]...), placeholder...), b[end:]...)
	var r record
	if err := json.Unmarshal(rest, &r); err != nil {
		return false
	}
	if r.Event.Evidence.Entry == nil || string(r.Event.Evidence.Entry.Body) != placeholderValue {
		return false
	}
	r.Event.Evidence.Entry.Body = body[:m]
	*rec = r
	return true
}
