# syntax=docker/dockerfile:1
# event-service container images: build on rust:<version>-<debian>, run on debian:<debian>-slim
# as a non-root user. See deploy/compose/README.md for the local stack that uses them.
#
#   docker build -t tickettoken/event-service .                        # production: the service only
#   docker build --target venue-stub -t tickettoken/venue-stub:dev .   # the dev stand-in (compose)
#   docker run --rm tickettoken/event-service --help
#
# Needs BuildKit (the default builder of Docker 23+): the cargo registry and the target directory
# are cache mounts, so a rebuild compiles only what changed, without a dependency-stub layer.
# Only what the build reads is copied, so editing docs, scripts or deploy files rebuilds nothing.

ARG RUST_VERSION=1.95
# Debian 13: regular security support until 2028.
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS source
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /app
# SQLX_OFFLINE: the build has no database; the SQL macros are checked against the committed
# query data (.sqlx/, copied below) instead.
ENV CARGO_TERM_COLOR=never \
    SQLX_OFFLINE=true
# The workspace: manifests, lock file and build script, each member's sources (crates/resilience
# also needs its declared bench file; tools/platform-fakes is the contract code venue-stub serves),
# migrations/ (sqlx::migrate! embeds them), .sqlx/ (the SQL macros' query data) and assets/ (the
# docs page, include_bytes!). tools/chain-sim is outside the workspace and has its own Dockerfile.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src/ src/
COPY crates/ crates/
COPY tools/platform-fakes/ tools/platform-fakes/
COPY tools/venue-stub/ tools/venue-stub/
COPY migrations/ migrations/
COPY .sqlx/ .sqlx/
COPY assets/ assets/

FROM source AS build
RUN --mount=type=cache,id=event-service-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=event-service-target,target=/app/target,sharing=locked \
    cargo build --release --locked --bin event-service \
    && install -m 0755 target/release/event-service /usr/local/bin/event-service \
    && case "$(event-service --help)" in *healthcheck*) ;; *) exit 1 ;; esac

FROM source AS build-venue-stub
RUN --mount=type=cache,id=event-service-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=event-service-target,target=/app/target,sharing=locked \
    cargo build --release --locked -p venue-stub \
    && install -m 0755 target/release/venue-stub /usr/local/bin/venue-stub

FROM debian:${DEBIAN_RELEASE}-slim AS runtime-base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# TLS is rustls (no OpenSSL at run time); the CA bundle is for https calls to other services.
# Not version-pinned: the package comes from the pinned Debian release, whose security updates
# it should pick up on every build; an exact version pin would fail once Debian replaces it.
# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates
# A fixed, unprivileged uid/gid so volume permissions and runAsUser policies can name it.
RUN groupadd --gid 10001 event-service \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --no-log-init event-service
USER 10001

# The venue-service stand-in of the local compose stack. Not part of the production image.
FROM runtime-base AS venue-stub
COPY --from=build-venue-stub /usr/local/bin/venue-stub /usr/local/bin/venue-stub
ENV VENUE_STUB_HOST=0.0.0.0 \
    VENUE_STUB_PORT=3002
EXPOSE 3002
ENTRYPOINT ["venue-stub"]

# The production image, and the default target: the service binary only.
FROM runtime-base AS runtime
COPY --from=build /usr/local/bin/event-service /usr/local/bin/event-service
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
# MAX_SHUTDOWN_TIMEOUT_MS + PRESTOP_DELAY_MS). `migrate`, `healthcheck` and `config` are the
# other commands.
ENTRYPOINT ["event-service"]
CMD ["serve"]
