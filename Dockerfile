# haraft container images.
#
#   docker build -t haraft .                       # default: build from source
#   docker build --target prebuilt -t haraft .     # from static binaries already in ./bin
#                                                  # (CGO_ENABLED=0 go build -o bin/ ./cmd/... ./integration/cmd/backend)
#
# The prebuilt target exists for machines where no base image can be
# pulled: it needs nothing but the binaries (FROM scratch).
#
# haraftd runs as user 65532 (no name, no capabilities) and keeps its data
# in /var/lib/haraft, a volume. Capabilities only some nodes need:
#   - a VIP (eip_mover kind vip) adds and removes addresses on an
#     interface: CAP_NET_ADMIN, in the host's network namespace. Run that
#     container as root with nothing but it:
#       --user 0 --cap-drop ALL --cap-add NET_ADMIN --network host
#     (a non-root user gets no capability from --cap-add under Docker).
#   - a frontend bound below port 1024: CAP_NET_BIND_SERVICE the same way,
#     or publish the port (-p 80:8080) to a bind above 1024.
# The compose cluster (docker-compose.yml) needs neither: its mover is the
# EC2 one (through the emulator) and its ports are above 1024.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/... ./integration/cmd/backend

FROM scratch AS prebuilt
COPY bin/ /usr/local/bin/
COPY --chown=65532:65532 examples/container/data/ /var/lib/haraft/
USER 65532:65532
VOLUME ["/var/lib/haraft"]
# proxy (frontends[].bind), ops (http.addr: /ready /healthz /status
# /metrics), admin API (admin.addr, haraftctl), cluster port (raft.bind):
# the ports of the compose cluster's node files.
EXPOSE 8080 9100 9200 7000
ENTRYPOINT ["/usr/local/bin/haraftd"]
CMD ["-config", "/etc/haraft/haraft.yaml"]

# Default target (last stage): built from source.
FROM scratch AS haraft
COPY --from=build /out/ /usr/local/bin/
COPY --chown=65532:65532 examples/container/data/ /var/lib/haraft/
USER 65532:65532
VOLUME ["/var/lib/haraft"]
EXPOSE 8080 9100 9200 7000
ENTRYPOINT ["/usr/local/bin/haraftd"]
CMD ["-config", "/etc/haraft/haraft.yaml"]
