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
	cl, err := connect(kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{rekorSignerNamespace, trillianNamespace} {
		if _, err := cl.EnsureNamespace(ctx, ns, false); err != nil {
			t.Fatal(err)
		}
	}
	// What the trillian chart rendered in an earlier install: MySQL's data
	// directory was initialised with this password.
	old := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: trillianChartMySQLSecret, Namespace: trillianNamespace},
		Data:       map[string][]byte{trillianMySQLPassword: []byte("earlier")},
	}
	if _, err := cl.Client.CoreV1().Secrets(trillianNamespace).Create(ctx, old, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	dry := &upResult{Changes: map[string]outcome{}}
	if _, err := ensureServiceSecrets(ctx, cl, true, dry); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if d, _ := cl.SecretData(ctx, rekorSignerNamespace, rekorSignerSecret, rekorSignerPublicKey); d != nil {
		t.Errorf("dry run created %s", rekorSignerSecret)
	}

	res := &upResult{Changes: map[string]outcome{}}
	first, err := ensureServiceSecrets(ctx, cl, false, res)
	if err != nil {
		t.Fatal(err)
	}
	if first.MySQLPassword != "earlier" || len(first.MySQLRootPassword) < 20 {
		t.Errorf("passwords %q, %q; want the earlier user password and a new root password", first.MySQLPassword, first.MySQLRootPassword)
	}
	for k, want := range map[string]outcome{
		"secret " + rekorSignerNamespace + "/" + rekorSignerSecret: created,
		"secret " + trillianNamespace + "/" + trillianMySQLSecret:  created,
	} {
		if res.Changes[k] != want || dry.Changes[k] != wouldCreate {
			t.Errorf("%s: %s (dry run %s), want %s", k, res.Changes[k], dry.Changes[k], want)
		}
	}

	// The chart's Secret changing (as its random passwords did) changes
	// nothing of the bootstrap's.
	old.Data[trillianMySQLPassword] = []byte("rotated-by-the-chart")
	if _, err := cl.Client.CoreV1().Secrets(trillianNamespace).Update(ctx, old, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res = &upResult{Changes: map[string]outcome{}}
	second, err := ensureServiceSecrets(ctx, cl, false, res)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(second.RekorPublicKeyPEM, first.RekorPublicKeyPEM) || second.MySQLPassword != first.MySQLPassword || second.MySQLRootPassword != first.MySQLRootPassword {
		t.Errorf("second run changed the secrets: %+v, want %+v", second, first)
	}
	for k, c := range res.Changes {
		if c != unchanged {
			t.Errorf("second run: %s %s, want unchanged", k, c)
		}
	}

	// A signing key whose public half is not its private key's is refused.
	sec, err := cl.Client.CoreV1().Secrets(rekorSignerNamespace).Get(ctx, rekorSignerSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := newRekorSigner()
	if err != nil {
		t.Fatal(err)
	}
	sec.Data[rekorSignerPublicKey] = other[rekorSignerPublicKey]
	if _, err := cl.Client.CoreV1().Secrets(rekorSignerNamespace).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureServiceSecrets(ctx, cl, false, &upResult{Changes: map[string]outcome{}}); err == nil {
		t.Errorf("mismatched signing key accepted")
	}
}
