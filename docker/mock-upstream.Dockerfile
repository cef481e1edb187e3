# syntax=docker/dockerfile:1
# Mock Anthropic Messages API for demos (compose profile "demo"). Build from the
# repository root:
#   docker build -f docker/mock-upstream.Dockerfile -t portcullis/mock-upstream .

# ---- build (identical in every service Dockerfile; see gateway.Dockerfile) ------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
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
    cargo build --release -p mock-upstream --locked \
    && install -D -m 0755 target/release/mock-upstream /out/mock-upstream

# ---- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim
# curl: the health check below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --no-create-home \
        --shell /usr/sbin/nologin portcullis
COPY --from=builder /out/mock-upstream /usr/local/bin/mock-upstream
USER portcullis
ENV MOCK_UPSTREAM_LISTEN=0.0.0.0:9090
EXPOSE 9090
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS http://127.0.0.1:9090/v1/models || exit 1
# The mock stops on SIGINT (ctrl-c).
STOPSIGNAL SIGINT
ENTRYPOINT ["mock-upstream"]
