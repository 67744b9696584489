# Multi-stage build: a static gatehouse binary on a distroless base, run as non-root.
#
# The build context has no .git (.dockerignore), so the version comes in as
# build arguments; scripts/release.sh passes them. By hand:
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t gatehouse .
#
# Without them `gatehouse version` says "devel (revision unknown, built unknown)".
ARG VERSION=""
ARG REVISION=""
ARG CREATED=""

FROM golang:1.26-bookworm AS build
ARG VERSION
ARG REVISION
ARG CREATED
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w \
      -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.version=${VERSION} \
      -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.revision=${REVISION} \
      -X github.com/gatehouse-dev/gatehouse/internal/buildinfo.date=${CREATED}" \
    -o /out/gatehouse ./cmd/gatehouse

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION
ARG REVISION
ARG CREATED
LABEL org.opencontainers.image.title="gatehouse" \
      org.opencontainers.image.description="A Backend-for-Frontend gateway: OpenID Connect login, server-side sessions, per-route plugins" \
      org.opencontainers.image.source="https://github.com/gatehouse-dev/gatehouse" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY LICENSE NOTICE /usr/share/doc/gatehouse/
# The shipped routes.yaml runs as it is: its static route serves the example
# SPA from beside it. docker compose mounts its own config instead.
COPY routes.yaml /etc/gatehouse/routes.yaml
COPY examples/spa /etc/gatehouse/examples/spa
# Inside a container, listen on every interface (routes.yaml reads this).
ENV GATEHOUSE_LISTEN=0.0.0.0:8080
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["-config", "/etc/gatehouse/routes.yaml"]
