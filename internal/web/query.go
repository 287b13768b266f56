package web

import (
	"net/url"

	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/search"
)

// Search parameters: the page's form takes those of the JSON API.
const (
	paramSubject     = search.ParamSubject
	paramIssuer      = search.ParamIssuer
	paramDigest      = search.ParamDigest
	paramFingerprint = search.ParamFingerprint
	paramLog         = search.ParamLog
	paramSince       = search.ParamSince
	paramUntil       = search.ParamUntil
	paramCursor      = search.ParamCursor
	paramLimit       = search.ParamLimit
	paramExtension   = search.ParamExtension
)

// ParseQuery is search.ParseQuery: the page and the API parse one way.
func ParseQuery(v url.Values) (index.Query, error) { return search.ParseQuery(v) }

// validOID is search.ValidOID.
func validOID(s string) bool { return search.ValidOID(s) }
