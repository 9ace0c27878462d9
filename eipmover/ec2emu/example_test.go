package ec2emu_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/haraft/haraft/eipmover/ec2emu"
)

// A test of an EIP mover: seed the emulator, point the real SDK client at
// it, move the address, and wait for the emulator to show the new holder.
func Example() {
	emu := ec2emu.New(ec2emu.Options{Seed: 1})
	_ = emu.AddCredentials(ec2emu.Credentials{AccessKey: "AKIDEXAMPLE", Secret: "secret"})
	_ = emu.AddInstance(ec2emu.Instance{ID: "i-node1", AZ: "us-east-1a", ENI: "eni-node1", PrivateIP: "10.0.1.10"})
	_ = emu.AddInstance(ec2emu.Instance{ID: "i-node2", AZ: "us-east-1a", ENI: "eni-node2", PrivateIP: "10.0.1.20"})
	_ = emu.AddAddress(ec2emu.Address{AllocationID: "eipalloc-web", PublicIP: "198.51.100.7", InstanceID: "i-node1"})
	srv := httptest.NewServer(emu)
	defer srv.Close()

	client := ec2.New(ec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.AssociateAddress(ctx, &ec2.AssociateAddressInput{
		AllocationId:       aws.String("eipalloc-web"),
		InstanceId:         aws.String("i-node2"),
		AllowReassociation: aws.Bool(true),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	addrs, err := emu.WaitFor(ctx, func(as []ec2emu.Address) bool { return as[0].InstanceID == "i-node2" })
	if err != nil {
		fmt.Println(err)
		return
	}
	evs := emu.Associations()
	last := evs[len(evs)-1]
	fmt.Println(addrs[0].PublicIP, "on", addrs[0].InstanceID, "from", last.PrevInstanceID)
	fmt.Println("history consistent:", ec2emu.VerifyHistory(evs) == nil)
	// Output:
	// 198.51.100.7 on i-node2 from i-node1
	// history consistent: true
}
