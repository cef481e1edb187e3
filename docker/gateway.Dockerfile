# syntax=docker/dockerfile:1
# Portcullis gateway image. Build from the repository root:
#   docker build -f docker/gateway.Dockerfile -t portcullis/gateway .
# (docker-compose.yml does this for you.)

# ---- build -------------------------------------------------------------------
# The four service Dockerfiles share this stage word for word, so BuildKit builds
# the common layers once and the cache mounts share compiled dependencies.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
# The whole workspace: cargo needs every member's manifest to resolve Cargo.lock.
# scripts/check-compose.sh checks that this list matches [workspace] members.
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY gateway gateway
COPY schemas schemas
COPY detection detection
COPY mock-upstream mock-upstream
COPY test-support test-support
COPY detector-worker detector-worker
COPY audit-writer audit-writer
COPY benches benches
COPY e2e e2e
COPY telemetry telemetry
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release -p portcullis-gateway --locked \
    && install -D -m 0755 target/release/gateway /out/gateway

# ---- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: TLS to api.anthropic.com. curl: the health check below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# Non-root; the spool directory exists and is owned by that user so a fresh
# named volume mounted on it inherits the ownership.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/portcullis \
        --shell /usr/sbin/nologin portcullis \
    && install -d -o portcullis -g portcullis /var/lib/portcullis /var/lib/portcullis/audit-spool
COPY --from=builder /out/gateway /usr/local/bin/gateway
COPY docker/gateway.toml /etc/portcullis/gateway.toml
USER portcullis
WORKDIR /var/lib/portcullis
ENV PORTCULLIS_CONFIG=/etc/portcullis/gateway.toml
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1
# SIGTERM: stop accepting, finish in-flight requests, flush audit events.
STOPSIGNAL SIGTERM
ENTRYPOINT ["gateway"]
CMD ["serve"]
