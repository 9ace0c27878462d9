package ec2emu

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
)

const (
	testAK     = "AKIDEMUTEST"
	testSecret = "emu/secret/key+with/odd=chars"
	testRegion = "us-east-1"
)

// fixture is an emulator on a real loopback socket with two instances in
// two AZs and one unassociated address.
type fixture struct {
	emu *Emulator
	srv *httptest.Server
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	if opts.Credentials == nil {
		opts.Credentials = []Credentials{{AccessKey: testAK, Secret: testSecret}}
	}
	e := New(opts)
	for _, in := range []Instance{
		{ID: "i-aaaa", AZ: "us-east-1a", ENI: "eni-aaaa", PrivateIP: "10.0.1.10", SecondaryIPs: []string{"10.0.1.11"}},
		{ID: "i-bbbb", AZ: "us-east-1b", ENI: "eni-bbbb", PrivateIP: "10.0.2.10"},
	} {
		if err := e.AddInstance(in); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.AddAddress(Address{AllocationID: "eipalloc-1", PublicIP: "198.51.100.1"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &fixture{emu: e, srv: srv}
}

type clientOpt struct {
	ak, secret  string
	maxAttempts int
}

// client returns the real SDK client, configured as an application would
// (LoadDefaultConfig, static credentials, standard retryer), pointed at the
// emulator. Shared config files are empty temp files so that nothing on the
// machine leaks in.
func (f *fixture) client(t *testing.T, o clientOpt) *ec2.Client {
	t.Helper()
	if o.ak == "" {
		o.ak, o.secret = testAK, testSecret
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(testRegion),
		config.WithSharedConfigFiles([]string{empty}),
		config.WithSharedCredentialsFiles([]string{empty}),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.ak, o.secret, "")),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxBackoff = 20 * time.Millisecond
				if o.maxAttempts > 0 {
					so.MaxAttempts = o.maxAttempts
				}
			})
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return ec2.NewFromConfig(cfg, func(eo *ec2.Options) {
		eo.BaseEndpoint = aws.String(f.srv.URL)
	})
}

// apiErr returns the EC2 error code and HTTP status of err, or fails.
func apiErr(t *testing.T, err error) (string, int) {
	t.Helper()
	if err == nil {
		t.Fatal("want an API error, got success")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want smithy.APIError, got %T: %v", err, err)
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
