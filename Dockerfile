# event-service container image: build on rust:<version>-bookworm, run on debian:bookworm-slim
# as a non-root user. See deploy/compose/README.md for the local stack that uses it.
#
#   docker build -t tickettoken/event-service .
#   docker run --rm tickettoken/event-service --help
#
# Dependency caching without extra tools: first build the locked dependency graph against stub
# sources (one layer, reused while Cargo.toml/Cargo.lock do not change), then copy the real
# sources and build again. When a workspace member or an explicitly declared target
# ([[bin]], [[bench]], [[test]], [[example]] in a Cargo.toml) is added, add its manifest or its stub
# file below, or cargo refuses to load the manifests in the first build.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /app
ENV CARGO_TERM_COLOR=never

# 1. Dependencies only. Stubs: the root package's lib and bin, the resilience lib, and the
#    resilience bench that its Cargo.toml declares explicitly (cargo checks that its file exists
#    even when benches are not built). tests/ is not in the build context (.dockerignore), and
#    the root package declares no test targets, so nothing else is needed.
COPY Cargo.toml Cargo.lock ./
COPY crates/resilience/Cargo.toml crates/resilience/Cargo.toml
COPY tools/venue-stub/Cargo.toml tools/venue-stub/Cargo.toml
COPY crates/chain/Cargo.toml crates/chain/Cargo.toml
RUN mkdir -p src crates/resilience/src crates/resilience/benches tools/venue-stub/src crates/chain/src \
    && echo 'fn main() {}' > src/main.rs \
    && : > src/lib.rs \
    && : > crates/resilience/src/lib.rs \
    && : > crates/chain/src/lib.rs \
    && echo 'fn main() {}' > crates/resilience/benches/overhead.rs \
    && echo 'fn main() {}' > tools/venue-stub/src/main.rs \
    && cargo build --release --locked --bin event-service --bin venue-stub

# 2. The real sources. migrations/ must be here: sqlx::migrate! embeds it at compile time.
#    COPY keeps the files' modification times, which are older than the stub build's outputs;
#    without the touch cargo would consider the workspace crates fresh and ship the stub
#    (the --help check fails the build if that ever happens: the stub prints nothing).
COPY . .
RUN find src crates tools -name '*.rs' -exec touch {} + \
    && cargo build --release --locked --bin event-service --bin venue-stub \
    && ./target/release/event-service --help | grep -q healthcheck

FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# TLS is rustls (no OpenSSL at run time); the CA bundle is for https calls to other services.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged uid/gid so volume permissions and runAsUser policies can name it.
RUN groupadd --gid 10001 event-service \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --no-log-init event-service

COPY --from=builder /app/target/release/event-service /usr/local/bin/event-service
# The venue-service stand-in for the local compose stack (entrypoint override there).
COPY --from=builder /app/target/release/venue-stub /usr/local/bin/venue-stub

USER 10001
ENV APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=3003 \
    LOG_FORMAT=json
EXPOSE 3003

# `healthcheck` GETs http://127.0.0.1:$PORT/health/live (3 s client timeout) and exits 0 or 1,
# so the image needs no curl. The start period covers the start-up connection retries.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["event-service", "healthcheck"]

# Exec form: the service is PID 1 and receives SIGTERM itself (graceful drain, bounded by
# MAX_SHUTDOWN_TIMEOUT_MS + PRESTOP_DELAY_MS). `migrate` and `healthcheck` are the other commands.
ENTRYPOINT ["event-service"]
CMD ["serve"]
