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
#   /opt/ramjet/share/graphiql/            GraphiQL's assets, served by the gateway
#   /opt/ramjet/include, lib/cmake/Ramjet, lib/pkgconfig   the application SDK
#
# No token key is in the image: the shop refuses to start until one is named
# (SHOP_BOOSTER_PUBLIC_KEY_FILE, a mounted file, or SHOP_JWKS_URI; README.md,
# "Tokens"), and the development key's private half is not even in the build
# context (.dockerignore), so an image can never help anyone mint tokens.
#
# Everything under /opt/ramjet is owned by root and read-only to the runtime
# user (uid/gid 10001), so the root filesystem can be mounted read-only.
#
# To ship your own application, build it against an installed Ramjet
# (find_package(Ramjet), docs/app-sdl.md "Build your own application") and either
# extend this image (`FROM ramjet:0.1.0` + `COPY libmyapp.so myapp.graphql
# /opt/ramjet/lib/`) or mount it, then point RAMJET_APP at it.

# An exact point-release tag, so a rebuild does not silently move to another base.
# For bit-for-bit reproducible images, pin the digest your registry serves for it
# (--build-arg DEBIAN_IMAGE=debian:12.11-slim@sha256:...).
ARG DEBIAN_IMAGE=debian:12.11-slim

# ---------------------------------------------------------------------------
# Build stage: compilers and the -dev packages; the result is staged under
# /staging so the runtime stage copies one tree.
# ---------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS build

# Every RUN below that pipes fails when any command of the pipe fails.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config ca-certificates \
        librdkafka-dev libpq-dev libh2o-dev libh2o-evloop-dev libuv1-dev \
        libwebsockets-dev libjansson-dev libjwt-dev libhiredis-dev libssl-dev \
        libcurl4-openssl-dev nodejs npm; \
    rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Dependencies before sources: the npm packages the build vendors GraphiQL from
# (web/vendor.cmake) are installed from the lock file alone, so editing a .c file
# reuses this layer. npm is only in this stage; the runtime image has no Node.
# The stamp is what web/vendor.cmake checks before running npm again.
COPY web/package.json web/package-lock.json web/
RUN set -eux; \
    cd web; \
    npm ci --no-audit --no-fund --loglevel=error; \
    touch node_modules/.package-lock.json

COPY . .

# Warnings fail the build (RAMJET_WERROR, as in CI). The unit tests are left out:
# they need Criterion and run under scripts/test, not in the image.
RUN set -eux; \
    cmake -S . -B build -DRAMJET_TESTS=OFF -DRAMJET_WERROR=ON; \
    cmake --build build -j"$(nproc)"

# Stage exactly what the runtime needs with the install rules (cmake/RamjetPackage.cmake):
# Ramjet itself, then the shop, which the build made as an outside project would
# (examples/CMakeLists.txt) and which installs its library and SDL into lib/. Fail the
# build (not the first pod) when an expected artifact is missing. The development key
# pair stays out: .dockerignore keeps private.pem out of the context and the shop never
# installs its public key (it is copied into build/lib/shop-keys for `ramjet dev` only).
# runtime-packages.txt: the Debian packages that own every shared library the
# binaries and the app resolve (ldd), so the runtime stage installs exactly those.
RUN set -eux; \
    dest=/staging/opt/ramjet; \
    cmake --install build --prefix "$dest"; \
    cmake --install build/examples/shop --prefix "$dest"; \
    for d in gateway commands eventstore reducer projector pusher; do \
        test -x "$dest/bin/ramjet-$d"; \
    done; \
    test -x "$dest/bin/ramjet"; \
    test -f "$dest/lib/libshop.so"; \
    test -f "$dest/lib/shop.graphql"; \
    test -f "$dest/share/graphiql/graphiql.min.js"; \
    if find /staging -name '*.pem' | grep -q .; then echo 'a key in the image' >&2; exit 1; fi; \
    ldd "$dest"/bin/* "$dest/lib/libshop.so" \
        | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u \
        | while read -r lib; do \
            real=$(readlink -f "$lib"); \
            dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}"; \
          done \
        | cut -d: -f1 | sort -u > /staging/runtime-packages.txt; \
    cat /staging/runtime-packages.txt; \
    ls -lR /staging/opt

# ---------------------------------------------------------------------------
# Runtime stage: shared libraries only, plus curl for health checks and tini
# as PID 1 (forwards SIGTERM to the daemon, which drains; reaps zombies).
# ---------------------------------------------------------------------------
FROM ${DEBIAN_IMAGE} AS runtime

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Only the packages that own a library the binaries link (runtime-packages.txt,
# from ldd in the build stage), plus curl for the health check and tini as PID 1
# (it forwards SIGTERM to the daemon, which drains, and reaps zombies). The list
# is copied alone, so this layer is rebuilt only when the set of libraries changes.
COPY --from=build /staging/runtime-packages.txt /tmp/runtime-packages.txt
RUN set -eux; \
    apt-get update; \
    xargs -a /tmp/runtime-packages.txt \
        env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates curl tini; \
    rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt; \
    groupadd --system --gid 10001 ramjet; \
    useradd --system --uid 10001 --gid ramjet --home-dir /opt/ramjet --no-create-home \
        --shell /usr/sbin/nologin ramjet

COPY --from=build /staging/opt/ /opt/

# Every binary and the app must resolve all their shared libraries here.
RUN set -eux; \
    if ldd /opt/ramjet/bin/* /opt/ramjet/lib/libshop.so | grep -F 'not found'; then \
        echo 'missing runtime libraries (see above)' >&2; exit 1; \
    fi

LABEL org.opencontainers.image.title="ramjet" \
      org.opencontainers.image.description="Ramjet event-sourced CQRS daemons, CLI and the shop example app" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.base.name="debian:12.11-slim"

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
