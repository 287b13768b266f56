# syntax=docker/dockerfile:1
#
# The Vigil monitor image: a static Go binary on an empty base.
#
#   docker build -t vigil-monitor:dev .
#   docker run --rm -v $PWD/config.yaml:/etc/vigil/config.yaml:ro vigil-monitor:dev run --config /etc/vigil/config.yaml
#
# Stage 1 builds with the Go toolchain named in go.mod (GOTOOLCHAIN=local: the
# image's Go must be that version). Stage 2 is "distroless-style": scratch plus
# only what a static binary needs (CA certificates, a passwd entry for the
# non-root user, a writable /tmp and state directory). It runs as 65532:65532,
# which matches the Helm chart's securityContext.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
ENV GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
# The version comes from the module's build info (debug.ReadBuildInfo).
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w" -o /out/monitor ./cmd/monitor
# The runtime tree: passwd/group for the nonroot user, empty dirs it may write.
RUN mkdir -p /rootfs/etc /rootfs/tmp /rootfs/var/lib/vigil /rootfs/etc/vigil \
 && echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > /rootfs/etc/passwd \
 && echo 'nonroot:x:65532:' > /rootfs/etc/group \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ca-certificates.crt \
 && chmod 1777 /rootfs/tmp

FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build --chown=65532:65532 /rootfs/var/lib/vigil /var/lib/vigil
COPY --from=build /rootfs/etc/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/monitor /usr/local/bin/monitor
USER 65532:65532
VOLUME ["/var/lib/vigil"]
EXPOSE 9464
LABEL org.opencontainers.image.title="vigil-monitor" \
      org.opencontainers.image.description="Monitor for private Sigstore transparency logs" \
      org.opencontainers.image.source="https://github.com/vigil-tlog/vigil" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["/usr/local/bin/monitor"]
CMD ["run", "--config", "/etc/vigil/config.yaml"]
