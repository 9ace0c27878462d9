package ec2emu

import (
	"encoding/json"
	"fmt"
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

// Pages of DescribeInstances, as the SDK's paginator walks them, and a
// retagged instance leaving a tag filter's answer.
func TestDescribeInstancesPagesAndRetag(t *testing.T) {
	f := newFixture(t, Options{Seed: 3})
	for i := range 12 {
		if err := f.emu.AddInstance(Instance{ID: fmt.Sprintf("i-web%02d", i), PrivateIP: fmt.Sprintf("10.0.4.%d", i+1), Tags: map[string]string{"role": "web"}}); err != nil {
			t.Fatal(err)
		}
	}
	c := f.client(t, clientOpt{})
	in := &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag:role"), Values: []string{"web"}}}, MaxResults: aws.Int32(5)}
	walk := func() (ids []string, pages int) {
		p := ec2.NewDescribeInstancesPaginator(c, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, r := range out.Reservations {
				for _, inst := range r.Instances {
					ids = append(ids, aws.ToString(inst.InstanceId))
				}
			}
		}
		return ids, pages
	}
	ids, pages := walk()
	if len(ids) != 12 || pages != 3 {
		t.Fatalf("%d instances in %d pages, want 12 in 3: %v", len(ids), pages, ids)
	}
	if err := f.emu.SetInstanceTags("i-web03", map[string]string{"role": "old"}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := walk(); len(ids) != 11 || slices.Contains(ids, "i-web03") {
		t.Fatalf("after retagging i-web03: %v", ids)
	}
	for _, bad := range []int32{4, 1001} {
		if _, err := c.DescribeInstances(ctxT(t), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(bad)}); err == nil || !strings.Contains(err.Error(), "InvalidParameterValue") {
			t.Errorf("MaxResults %d: %v, want InvalidParameterValue", bad, err)
		}
	}
	if _, err := c.DescribeInstances(ctxT(t), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), InstanceIds: []string{"i-web01"}}); err == nil || !strings.Contains(err.Error(), "InvalidParameterCombination") {
		t.Errorf("MaxResults with InstanceIds: %v", err)
	}
}
