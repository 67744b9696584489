# Multi-stage build: a static gatehouse binary on a distroless base, run as non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/gatehouse ./cmd/gatehouse

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
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
