package identity

// CertDER returns the DER of the identity's certificate without parsing it,
// or nil for a bare key. The bytes may be shared: do not modify them.
func (id *Identity) CertDER() []byte {
	if id.cert == nil {
		return nil
	}
	return id.cert.der
}
