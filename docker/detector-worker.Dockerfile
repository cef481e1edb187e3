# syntax=docker/dockerfile:1
# Portcullis ML detector worker image, with the default model baked in. Build
# from the repository root:
#   docker build -f docker/detector-worker.Dockerfile -t portcullis/detector-worker .
# Another model: mount its folder and set PORTCULLIS_MODEL_DIR to it.

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
    cargo build --release -p detector-worker --locked \
    && install -D -m 0755 target/release/detector-worker /out/detector-worker

# ---- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/portcullis \
        --shell /usr/sbin/nologin portcullis \
    && install -d -o portcullis -g portcullis /var/lib/portcullis
COPY --from=builder /out/detector-worker /usr/local/bin/detector-worker
# The committed default classifier (config.json, tokenizer, safetensors weights),
# read-only for the service user.
COPY models/default /opt/portcullis/models/default
USER portcullis
WORKDIR /var/lib/portcullis
ENV PORTCULLIS_MODEL_DIR=/opt/portcullis/models/default
# Keep Candle's large tensor buffers in the heap instead of mmap/munmap per op
# (page-fault zeroing was ~12 % of inference time): 256-token segments ~20 %
# and 512-token ones ~40 % faster (benches/ml/RESULTS.md). glibc reads this only
# at process start, so it must be in the environment, not set by the worker.
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824
# Candle's kernels use this many threads per worker (default: all cores). With
# several replicas on one host, set it to cores / replicas in the compose file.
# ENV RAYON_NUM_THREADS=2
STOPSIGNAL SIGTERM
ENTRYPOINT ["detector-worker"]
CMD ["run"]
