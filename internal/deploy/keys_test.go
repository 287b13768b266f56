package deploy

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vigil-tlog/vigil/internal/testenv"
)

// ensureServiceSecrets creates the Rekor signing key and the MySQL passwords
// once, adopting the passwords of an earlier install, and never changes
// them afterwards; a signing key whose halves do not match is refused.
func TestEnsureServiceSecrets(t *testing.T) {
	kubeconfig := testenv.Cluster(t)
	ctx := t.Context()
	cl, err := Connect(kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{RekorSignerNamespace, TrillianNamespace} {
		if _, err := cl.EnsureNamespace(ctx, ns, false); err != nil {
			t.Fatal(err)
		}
	}
	// What the trillian chart rendered in an earlier install: MySQL's data
	// directory was initialised with this password.
	old := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: trillianChartMySQLSecret, Namespace: TrillianNamespace},
		Data:       map[string][]byte{TrillianMySQLPassword: []byte("earlier")},
	}
	if _, err := cl.Client.CoreV1().Secrets(TrillianNamespace).Create(ctx, old, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	dry := &UpResult{Changes: map[string]Change{}}
	if _, err := ensureServiceSecrets(ctx, cl, true, dry); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if d, _ := cl.SecretData(ctx, RekorSignerNamespace, RekorSignerSecret, RekorSignerPublicKey); d != nil {
		t.Errorf("dry run created %s", RekorSignerSecret)
	}

	res := &UpResult{Changes: map[string]Change{}}
	first, err := ensureServiceSecrets(ctx, cl, false, res)
	if err != nil {
		t.Fatal(err)
	}
	if first.MySQLPassword != "earlier" || len(first.MySQLRootPassword) < 20 {
		t.Errorf("passwords %q, %q; want the earlier user password and a new root password", first.MySQLPassword, first.MySQLRootPassword)
	}
	for k, want := range map[string]Change{
		"secret " + RekorSignerNamespace + "/" + RekorSignerSecret: Created,
		"secret " + TrillianNamespace + "/" + TrillianMySQLSecret:  Created,
	} {
		if res.Changes[k] != want || dry.Changes[k] != WouldCreate {
			t.Errorf("%s: %s (dry run %s), want %s", k, res.Changes[k], dry.Changes[k], want)
		}
	}

	// The chart's Secret changing (as its random passwords did) changes
	// nothing of the bootstrap's.
	old.Data[TrillianMySQLPassword] = []byte("rotated-by-the-chart")
	if _, err := cl.Client.CoreV1().Secrets(TrillianNamespace).Update(ctx, old, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res = &UpResult{Changes: map[string]Change{}}
	second, err := ensureServiceSecrets(ctx, cl, false, res)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(second.RekorPublicKeyPEM, first.RekorPublicKeyPEM) || second.MySQLPassword != first.MySQLPassword || second.MySQLRootPassword != first.MySQLRootPassword {
		t.Errorf("second run changed the secrets: %+v, want %+v", second, first)
	}
	for k, c := range res.Changes {
		if c != Unchanged {
			t.Errorf("second run: %s %s, want unchanged", k, c)
		}
	}

	// A signing key whose public half is not its private key's is refused.
	sec, err := cl.Client.CoreV1().Secrets(RekorSignerNamespace).Get(ctx, RekorSignerSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := newRekorSigner()
	if err != nil {
		t.Fatal(err)
	}
	sec.Data[RekorSignerPublicKey] = other[RekorSignerPublicKey]
	if _, err := cl.Client.CoreV1().Secrets(RekorSignerNamespace).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureServiceSecrets(ctx, cl, false, &UpResult{Changes: map[string]Change{}}); err == nil {
		t.Errorf("mismatched signing key accepted")
	}
}
