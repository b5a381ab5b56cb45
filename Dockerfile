# syntax=docker/dockerfile:1
#
# The Ramjet image: every daemon, the `ramjet` CLI and the example application
# (libshop.so) in one image. The daemon is chosen by the command:
#
#   docker build -t ramjet:0.1.0 .
#   docker run --rm ramjet:0.1.0 ramjet-gateway --help
#   docker run --rm -e RAMJET_KAFKA_BROKERS=... ramjet:0.1.0 ramjet-reducer
#
# Layout inside the image:
#
#   /opt/ramjet/bin/ramjet-{gateway,commands,eventstore,reducer,projector,pusher}
#   /opt/ramjet/bin/ramjet                 the CLI
#   /opt/ramjet/lib/libshop.so             the example app (RAMJET_APP)
#   /opt/ramjet/lib/shop.graphql           its SDL, resolved next to the library
#   /opt/ramjet/lib/shop-keys/             its DEVELOPMENT token key pair (see
#                                          examples/shop/keys/README.md)
#
# Everything under /opt/ramjet is owned by root and read-only to the runtime
# user (uid/gid 10001), so the root filesystem can be mounted read-only.
#
# To ship your own application, build it against this tree (or a copy of the
# headers in common/include) and either extend this image
# (`FROM ramjet:0.1.0` + `COPY libmyapp.so myapp.graphql /opt/ramjet/lib/`)
# or mount it, then point RAMJET_APP at it.

ARG DEBIAN_IMAGE=debian:12-slim

# ---------------------------------------------------------------------------
# Build stage: compilers and the -dev packages; the result is staged under
# /staging so the runtime stage copies one tree.
# ---------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build

RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config ca-certificates \
        librdkafka-dev libpq-dev libh2o-dev libh2o-evloop-dev libuv1-dev \
        libwebsockets-dev libjansson-dev libjwt-dev libhiredis-dev libssl-dev \
        libcurl4-openssl-dev nodejs npm; \
    rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# Warnings fail the build (RAMJET_WERROR, as in CI). The unit tests are left out:
# they need Criterion and run under scripts/test, not in the image. npm is here
# because the build vendors GraphiQL's assets from web/ into share/graphiql, which
# the gateway serves from ../share/graphiql next to its binary.
RUN set -eux; \
    cmake -S . -B build -DRAMJET_TESTS=OFF -DRAMJET_WERROR=ON; \
    cmake --build build -j"$(nproc)"

# Stage exactly what the runtime needs, and fail the build (not the first pod)
# when an expected artifact is missing. The build lays the app's SDL and key
# pair out next to libshop.so (lib/shop.graphql, lib/shop-keys/) as the daemons
# expect them; the source tree (examples/shop) is the fallback so the image does
# not depend on that copy step.
RUN set -eux; \
    dest=/staging/opt/ramjet; \
    install -d -m 0755 "$dest/bin" "$dest/lib"; \
    for d in gateway commands eventstore reducer projector pusher; do \
        test -x "build/bin/ramjet-$d"; \
    done; \
    test -x build/bin/ramjet; \
    install -m 0755 build/bin/ramjet build/bin/ramjet-* "$dest/bin/"; \
    test -f build/lib/libshop.so; \
    install -m 0644 build/lib/libshop.so "$dest/lib/"; \
    if [ -f build/lib/shop.graphql ]; then sdl=build/lib/shop.graphql; \
    else sdl=examples/shop/shop.graphql; fi; \
    install -m 0644 "$sdl" "$dest/lib/shop.graphql"; \
    if [ -d build/lib/shop-keys ]; then keys=build/lib/shop-keys; else keys=examples/shop/keys; fi; \
    install -d -m 0755 "$dest/lib/shop-keys"; \
    install -m 0644 "$keys/public.pem" "$keys/private.pem" "$dest/lib/shop-keys/"; \
    test -d build/share/graphiql; \
    install -d -m 0755 "$dest/share/graphiql"; \
    install -m 0644 build/share/graphiql/* "$dest/share/graphiql/"; \
    ls -lR /staging

# ---------------------------------------------------------------------------
# Runtime stage: shared libraries only, plus curl for health checks and tini
# as PID 1 (forwards SIGTERM to the daemon, which drains; reaps zombies).
# ---------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS runtime

# Package names are Debian 12 (bookworm) runtime packages of the -dev packages
# above: libh2o0.13 / libh2o-evloop0.13 (libh2o-dev / libh2o-evloop-dev),
# libwebsockets17, libjwt0 (the OpenSSL flavour, which libjwt-dev links),
# libhiredis0.14, libssl3. The ldd check below fails the build if one is missing.
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        librdkafka1 libpq5 libh2o0.13 libh2o-evloop0.13 libuv1 \
        libwebsockets17 libjansson4 libjwt0 libhiredis0.14 \
        libssl3 libcurl4 ca-certificates curl tini; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 ramjet; \
    useradd --system --uid 10001 --gid ramjet --home-dir /opt/ramjet --no-create-home \
        --shell /usr/sbin/nologin ramjet

COPY --from=build /staging/ /

# Every binary and the app must resolve all their shared libraries here.
RUN set -eux; \
    if ldd /opt/ramjet/bin/* /opt/ramjet/lib/libshop.so | grep -F 'not found'; then \
        echo 'missing runtime libraries (see above)' >&2; exit 1; \
    fi

LABEL org.opencontainers.image.title="ramjet" \
      org.opencontainers.image.description="Ramjet event-sourced CQRS daemons, CLI and the shop example app" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.base.name="debian:12-slim"

# RAMJET_HEALTH_PORT: one health port for every daemon inside a container (each
# container has its own network namespace), so probes need no per-daemon port.
ENV PATH=/opt/ramjet/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RAMJET_APP=/opt/ramjet/lib/libshop.so \
    RAMJET_HEALTH_PORT=9100

WORKDIR /opt/ramjet
USER 10001:10001

# 3000: gateway HTTP (RAMJET_HTTP_PORT); 65529: pusher WebSocket (RAMJET_WS_PORT);
# 9100: /healthz, /readyz, /metrics of whichever daemon runs.
EXPOSE 3000 65529 9100

# Daemons exit 0 after draining on SIGTERM; a second SIGTERM stops at once.
STOPSIGNAL SIGTERM

HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${RAMJET_HEALTH_PORT}/readyz" || exit 1

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["ramjet-gateway"]
