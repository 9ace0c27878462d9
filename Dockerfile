# haraft container images.
#
#   docker build -t haraft .                       # default: build from source
#   docker build --target prebuilt -t haraft .     # from static binaries already in ./bin
#                                                  # (CGO_ENABLED=0 go build -o bin/ ./cmd/... ./integration/cmd/backend)
#
# The prebuilt target exists for machines where no base image can be
# pulled: it needs nothing but the binaries (FROM scratch).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/... ./integration/cmd/backend

FROM scratch AS prebuilt
COPY bin/ /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/haraftd"]
CMD ["-config", "/etc/haraft/haraft.yaml"]

# Default target (last stage): built from source.
FROM scratch AS haraft
COPY --from=build /out/ /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/haraftd"]
CMD ["-config", "/etc/haraft/haraft.yaml"]
