package ec2emu

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func addTagged(t *testing.T, f *fixture) {
	t.Helper()
	for _, in := range []Instance{
		{ID: "i-app1", PrivateIP: "10.0.3.1", Tags: map[string]string{"role": "app", "env": "prod"}},
		{ID: "i-app2", PrivateIP: "10.0.3.2", Tags: map[string]string{"role": "app"}, State: "stopped"},
		{ID: "i-app3", PrivateIP: "10.0.3.3", Tags: map[string]string{"role": "app"}},
		{ID: "i-db", PrivateIP: "10.0.3.9", Tags: map[string]string{"role": "db"}},
	} {
		if err := f.emu.AddInstance(in); err != nil {
			t.Fatal(err)
		}
	}
}

// Tag and state filters as service discovery uses them, through the SDK.
func TestDescribeInstancesTagFilters(t *testing.T) {
	f := newFixture(t, Options{Seed: 3})
	addTagged(t, f)
	c := f.client(t, clientOpt{})
	cases := []struct {
		name    string
		filters []types.Filter
		want    []string
	}{
		{"tag role=app running", []types.Filter{
			{Name: aws.String("tag:role"), Values: []string{"app"}},
			{Name: aws.String("instance-state-name"), Values: []string{"running"}}}, []string{"10.0.3.1", "10.0.3.3"}},
		{"tag role=app any state", []types.Filter{{Name: aws.String("tag:role"), Values: []string{"app"}}}, []string{"10.0.3.1", "10.0.3.2", "10.0.3.3"}},
		{"two tags", []types.Filter{{Name: aws.String("tag:role"), Values: []string{"app"}}, {Name: aws.String("tag:env"), Values: []string{"prod"}}}, []string{"10.0.3.1"}},
		{"tag-key", []types.Filter{{Name: aws.String("tag-key"), Values: []string{"env"}}}, []string{"10.0.3.1"}},
		{"wildcard", []types.Filter{{Name: aws.String("tag:role"), Values: []string{"d*"}}}, []string{"10.0.3.9"}},
		{"nothing", []types.Filter{{Name: aws.String("tag:role"), Values: []string{"web"}}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeInstances(ctxT(t), &ec2.DescribeInstancesInput{Filters: tc.filters})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range out.Reservations {
				for _, in := range r.Instances {
					got = append(got, aws.ToString(in.PrivateIpAddress))
					if len(in.Tags) == 0 || in.State == nil {
						t.Errorf("%s: no tags or state", aws.ToString(in.InstanceId))
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if err := f.emu.SetInstanceState("i-app3", "terminated"); err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeInstances(ctxT(t), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-app3"}})
	if err != nil || out.Reservations[0].Instances[0].State.Name != types.InstanceStateNameTerminated || aws.ToInt32(out.Reservations[0].Instances[0].State.Code) != 48 {
		t.Fatalf("terminated instance: %v %+v", err, out)
	}
}

// The AWS CLI sees the same tags and filters.
func TestAWSCLIDescribeInstancesTags(t *testing.T) {
	bins := awsCLIs()
	if len(bins) == 0 {
		t.Skip("skipping the AWS CLI cross-check: no `aws` on PATH")
	}
	f := newFixture(t, Options{Seed: 3})
	addTagged(t, f)
	cli := &awsCLI{bin: bins[0], url: f.srv.URL, ak: testAK, secret: testSecret, home: t.TempDir()}
	out, stderr, err := cli.run(t, "ec2", "describe-instances", "--filters", "Name=tag:role,Values=app", "Name=instance-state-name,Values=running")
	if err != nil {
		t.Fatalf("describe-instances: %v\n%s", err, stderr)
	}
	var resp struct {
		Reservations []struct {
			Instances []struct {
				PrivateIpAddress string
				Tags             []struct{ Key, Value string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range resp.Reservations {
		for _, in := range r.Instances {
			got = append(got, in.PrivateIpAddress)
			if !slices.ContainsFunc(in.Tags, func(tg struct{ Key, Value string }) bool { return tg.Key == "role" && tg.Value == "app" }) {
				t.Errorf("tags %v", in.Tags)
			}
		}
	}
	slices.Sort(got)
	if want := []string{"10.0.3.1", "10.0.3.3"}; !slices.Equal(got, want) {
		t.Fatalf("CLI got %v, want %v (%s)", got, want, strings.TrimSpace(out))
	}
}
