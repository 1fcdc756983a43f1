# syntax=docker/dockerfile:1
# The server image, in four stages:
#   worker        the mediasoup worker (C++, about 3 minutes), built from the
#                 lock file and the build recipe (scripts/mediasoup-worker/)
#                 only, so editing the sources never rebuilds it: its layers
#                 stay cached until package-lock.json or the recipe changes
#   build         every dependency, the Prisma client, the TypeScript and the
#                 browser client's bundle (scripts/setup.js, given the worker)
#   runtime-deps  production dependencies only (no esbuild, no embedded PostgreSQL)
#   runtime       slim Debian, the worker's shared libraries, a non-root user
# One image serves every NODE_ROLE (all, gateway, media).

ARG NODE_IMAGE=node:24-bookworm

FROM ${NODE_IMAGE} AS worker
# The worker's build packages (WORKER_BUILD_PACKAGES in scripts/mediasoup-worker/build.js) and pip for meson >= 1.1.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       python3 python3-pip g++ pkg-config ninja-build \
       libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev libabsl-dev nlohmann-json3-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /worker
COPY package-lock.json ./
COPY scripts/mediasoup-worker/ ./recipe/
# The mediasoup package the lock file names, unpacked rather than installed
# (its install script would download a prebuilt worker or the C++ dependencies).
RUN version="$(node -p "require('./package-lock.json').packages['node_modules/mediasoup'].version")" \
    && npm pack --silent "mediasoup@${version}" \
    && mkdir mediasoup \
    && tar -xzf "mediasoup-${version}.tgz" -C mediasoup --strip-components=1 \
    && node recipe/build.js mediasoup /worker/bin/mediasoup-worker \
    && rm -rf mediasoup "mediasoup-${version}.tgz" /tmp/mediasoup-worker-*

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# .npmrc has ignore-scripts=true: every build step is scripts/setup.js's.
RUN npm ci
COPY . .
COPY --from=worker /worker/bin/mediasoup-worker /app/bin/mediasoup-worker
# With MEDIASOUP_WORKER_BIN the set-up uses that worker instead of building
# one; it generates the Prisma client, bundles the browser client into
# dist/demo and compiles the gateway.
RUN MEDIASOUP_WORKER_BIN=/app/bin/mediasoup-worker node scripts/setup.js --app gateway \
    && test -f dist/demo/app.js \
    && test -f dist/apps/gateway/apps/gateway/src/main.js

FROM ${NODE_IMAGE} AS runtime-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# The image always has DATABASE_URL, so the embedded PostgreSQL (optional) stays out.
RUN npm ci --omit=dev --omit=optional && npm cache clean --force

FROM ${NODE_IMAGE}-slim AS runtime
# Shared libraries the worker was linked against (Debian 12 packages).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libabsl20220623 libssl3 libuv1 libsrtp2-1 libusrsctp2 libnss3 libnspr4 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# HOST: listen on every interface of the container (the default, 127.0.0.1,
# is for a developer's machine). NODE_OPTIONS: a heap limit for one server.
# With V8's default (set by the host's memory) the old generation may grow
# to 4× the live heap before a collection, so RSS drifts far above it; at
# 1 GB it stays within about 1.6×. Raise it (compose: NODE_OPTIONS) only
# together with the container's memory limit.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    NODE_OPTIONS=--max-old-space-size=1024 \
    PORT=3000 \
    MEDIA_LISTEN_IP=0.0.0.0 \
    MEDIA_WORKERS=2 \
    MEDIA_WEBRTC_PORT=39000 \
    MEDIA_MIN_PORT=40000 \
    MEDIA_MAX_PORT=40199 \
    MEDIASOUP_WORKER_BIN=/app/bin/mediasoup-worker
COPY --from=runtime-deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/prisma ./prisma
COPY --from=build /app/dist ./dist
COPY --from=worker /worker/bin/mediasoup-worker ./bin/mediasoup-worker
# Files stay root-owned and read-only to the process; it writes nothing to disk.
USER node
EXPOSE 3000/tcp 39000-39001/udp 39000-39001/tcp 40000-40199/udp
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/apps/gateway/apps/gateway/src/main.js"]
