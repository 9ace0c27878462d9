// Package proto holds haraft's .proto definitions; the generated Go code
// lives in the subpackages fsmpb (FSM commands and snapshot records),
// clusterpb (node-to-node RPCs) and adminpb (the operators' admin API).
//
// Regenerate with `go generate ./proto/` (needs protoc, protoc-gen-go and
// protoc-gen-go-grpc on PATH: `apt-get install protobuf-compiler`,
// `go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12`,
// `go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1`).
package proto

//go:generate protoc --go_out=. --go_opt=module=github.com/haraft/haraft/proto --go-grpc_out=. --go-grpc_opt=module=github.com/haraft/haraft/proto fsm.proto cluster.proto admin.proto
