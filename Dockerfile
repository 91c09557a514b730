# syntax=docker/dockerfile:1
#
# Earshot container image: a static binary on distroless (no shell, no package
# manager), running as the unprivileged "nonroot" user (65532).
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t earshot .
#   docker run -p 8080:8080 -v earshot-data:/var/lib/earshot \
#     -v $PWD/earshot.yaml:/etc/earshot/earshot.yaml:ro earshot
#
# deploy/dockerfile_test.go checks the properties this file promises, and
# deploy/binary_test.go builds the binary with its exact go build command.

ARG GO_VERSION=1.26

# ---- build: a static, reproducible binary --------------------------------
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Dependencies first, so source edits reuse the module layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
# The version printed by `earshot version` and logged at start.
ARG VERSION=devel
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/earshot . \
 && mkdir -p /out/data

# ---- run: distroless static (CA certificates and tzdata included) ---------
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="earshot" \
      org.opencontainers.image.description="Public complaints on social networks become case threads in your team chat" \
      org.opencontainers.image.source="https://github.com/earshot-dev/earshot"

COPY --from=build /out/earshot /earshot
# The journal lives here; it must survive restarts (mount a volume or a PVC).
COPY --from=build --chown=65532:65532 /out/data /var/lib/earshot
VOLUME ["/var/lib/earshot"]
# A relative data_dir in the config lands inside the volume.
WORKDIR /var/lib/earshot

USER 65532:65532
# /metrics, /healthz, /readyz and the connectors' webhook routes.
EXPOSE 8080
# No shell or curl here: earshot asks its own /healthz (on 127.0.0.1:8080,
# the default listen; give --addr or --config for another). Kubernetes
# ignores this and uses the Deployment's probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5m --retries=3 \
  CMD ["/earshot", "healthcheck"]
ENTRYPOINT ["/earshot"]
CMD ["run", "--config", "/etc/earshot/earshot.yaml"]
