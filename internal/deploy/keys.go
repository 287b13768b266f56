package deploy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The long-lived secrets the bootstrap generates once and never overwrites:
// the scaffold's charts would otherwise make new ones (Rekor's in-memory
// signer on every pod start, Trillian's MySQL passwords on every upgrade).
// They live in the components' namespaces, so `down` keeps them and
// `down --purge` deletes them with the namespaces.
const (
	// rekorSignerSecret in rekor-system holds Rekor's ECDSA P-256 signing
	// key: rekorSignerPrivateKey (PKCS#8 PEM) is mounted into rekor-server
	// as its file signer, rekorSignerPublicKey (PKIX PEM) is what the monitor
	// and the trust material use.
	rekorSignerSecret     = "vigil-rekor-signer"
	rekorSignerNamespace  = "rekor-system"
	rekorSignerPrivateKey = "private"
	rekorSignerPublicKey  = "public"
	// rekorSignerMount is where rekor-server sees the private key.
	rekorSignerMount = "/var/run/vigil-rekor-signer"
	rekorSignerFile  = "private.pem"

	// trillianMySQLSecret in trillian-system holds the passwords the
	// bootstrap passes to the trillian chart's MySQL.
	trillianMySQLSecret       = "vigil-trillian-mysql"
	trillianNamespace         = "trillian-system"
	trillianMySQLPassword     = "mysql-password"
	trillianMySQLRootPassword = "mysql-root-password"
	trillianChartMySQLSecret  = "trillian-mysql" // what the chart renders
)

// generatedPasswordBytes is the entropy of a generated MySQL password.
const generatedPasswordBytes = 24

// serviceSecrets are the values taken from the bootstrap-owned secrets.
type serviceSecrets struct {
	RekorPublicKeyPEM []byte
	MySQLPassword     string
	MySQLRootPassword string
}

// ensureServiceSecrets reads the bootstrap-owned Rekor signing key and
// Trillian MySQL passwords, creating each Secret only when it is absent
// (in a dry run the generated values are used but not stored). Existing
// Secrets are never modified.
func ensureServiceSecrets(ctx context.Context, cl *cluster, dryRun bool, res *upResult) (*serviceSecrets, error) {
	out := &serviceSecrets{}
	data, change, err := ensureSecretOnce(ctx, cl, rekorSignerNamespace, rekorSignerSecret, dryRun, func() (map[string][]byte, error) {
		return newRekorSigner()
	})
	if err != nil {
		return nil, err
	}
	res.Changes["secret "+rekorSignerNamespace+"/"+rekorSignerSecret] = change
	if err := checkRekorSigner(data); err != nil {
		return nil, fmt.Errorf("checking secret %s/%s: %w", rekorSignerNamespace, rekorSignerSecret, err)
	}
	out.RekorPublicKeyPEM = data[rekorSignerPublicKey]

	data, change, err = ensureSecretOnce(ctx, cl, trillianNamespace, trillianMySQLSecret, dryRun, func() (map[string][]byte, error) {
		// Adopt the passwords of an earlier install, whose MySQL data
		// directory was initialised with them.
		old, err := cl.Client.CoreV1().Secrets(trillianNamespace).Get(ctx, trillianChartMySQLSecret, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading secret %s/%s: %w", trillianNamespace, trillianChartMySQLSecret, err)
		}
		d := map[string][]byte{}
		for _, k := range []string{trillianMySQLPassword, trillianMySQLRootPassword} {
			if err == nil && len(old.Data[k]) > 0 {
				d[k] = old.Data[k]
				continue
			}
			p, err := randomPassword()
			if err != nil {
				return nil, err
			}
			d[k] = []byte(p)
		}
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	res.Changes["secret "+trillianNamespace+"/"+trillianMySQLSecret] = change
	out.MySQLPassword = string(data[trillianMySQLPassword])
	out.MySQLRootPassword = string(data[trillianMySQLRootPassword])
	if out.MySQLPassword == "" || out.MySQLRootPassword == "" {
		return nil, fmt.Errorf("checking secret %s/%s: keys %s and %s must be non-empty", trillianNamespace, trillianMySQLSecret, trillianMySQLPassword, trillianMySQLRootPassword)
	}
	return out, nil
}

// ensureSecretOnce returns the data of namespace/name, creating the Secret
// from gen when it does not exist. It never updates an existing Secret.
func ensureSecretOnce(ctx context.Context, cl *cluster, namespace, name string, dryRun bool, gen func() (map[string][]byte, error)) (map[string][]byte, outcome, error) {
	api := cl.Client.CoreV1().Secrets(namespace)
	cur, err := api.Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return cur.Data, unchanged, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, "", fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	data, err := gen()
	if err != nil {
		return nil, "", fmt.Errorf("generating secret %s/%s: %w", namespace, name, err)
	}
	if dryRun {
		return data, wouldCreate, nil
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{managedByLabel: managedByValue}},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
	made, err := api.Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Someone else created it meanwhile: theirs wins.
		cur, err := api.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, "", fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
		}
		return cur.Data, unchanged, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("creating secret %s/%s: %w", namespace, name, err)
	}
	return made.Data, created, nil
}

// newRekorSigner generates Rekor's ECDSA P-256 signing key.
func newRekorSigner() (map[string][]byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		rekorSignerPrivateKey: pemEncode("PRIVATE KEY", priv),
		rekorSignerPublicKey:  pemEncode("PUBLIC KEY", pub),
	}, nil
}

// checkRekorSigner checks that the public key in data belongs to the private
// key.
func checkRekorSigner(data map[string][]byte) error {
	pb, _ := pem.Decode(data[rekorSignerPrivateKey])
	if pb == nil {
		return fmt.Errorf("key %q is not PEM", rekorSignerPrivateKey)
	}
	priv, err := x509.ParsePKCS8PrivateKey(pb.Bytes)
	if err != nil {
		return fmt.Errorf("parsing key %q: %w", rekorSignerPrivateKey, err)
	}
	ub, _ := pem.Decode(data[rekorSignerPublicKey])
	if ub == nil {
		return fmt.Errorf("key %q is not PEM", rekorSignerPublicKey)
	}
	pub, err := x509.ParsePKIXPublicKey(ub.Bytes)
	if err != nil {
		return fmt.Errorf("parsing key %q: %w", rekorSignerPublicKey, err)
	}
	ek, ok := priv.(*ecdsa.PrivateKey)
	if !ok || !ek.PublicKey.Equal(pub) {
		return fmt.Errorf("key %q is not the public key of %q", rekorSignerPublicKey, rekorSignerPrivateKey)
	}
	return nil
}

func randomPassword() (string, error) {
	b := make([]byte, generatedPasswordBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// scaffoldSecretValues are the scaffold values that make Rekor sign with the
// key of rekorSignerSecret and Trillian's MySQL use the passwords of
// trillianMySQLSecret.
func scaffoldSecretValues(ss *serviceSecrets) map[string]any {
	return map[string]any{
		"rekor": map[string]any{
			"server": map[string]any{
				"signer": rekorSignerMount + "/" + rekorSignerFile,
				"signerFileSecretOptions": map[string]any{
					"secretName":          rekorSignerSecret,
					"secretMountPath":     rekorSignerMount,
					"secretMountSubPath":  rekorSignerFile,
					"privateKeySecretKey": rekorSignerPrivateKey,
				},
			},
		},
		"trillian": map[string]any{
			"mysql": map[string]any{
				"auth": map[string]any{
					"password":     ss.MySQLPassword,
					"rootPassword": ss.MySQLRootPassword,
				},
			},
		},
	}
}
