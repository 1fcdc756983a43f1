# syntax=docker/dockerfile:1
# The gateway image, in three stages:
#   build    toolchain + every dependency: the mediasoup worker (against
#            Debian's libraries, as scripts/setup.js does everywhere), the
#            Prisma client, the TypeScript and the browser client's bundle
#   runtime-deps  production dependencies only (no esbuild, no embedded PostgreSQL)
#   runtime  slim Debian, the worker's shared libraries, a non-root user
# One image serves every NODE_ROLE (all, gateway, media).

ARG NODE_IMAGE=node:20-bookworm

FROM ${NODE_IMAGE} AS build
# The worker's build packages (the list in scripts/setup.js) and pip for meson >= 1.1.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       python3 python3-pip g++ pkg-config ninja-build \
       libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev libabsl-dev nlohmann-json3-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# .npmrc has ignore-scripts=true: every build step is scripts/setup.js's.
RUN npm ci
COPY . .
# setup.js: Prisma client, mediasoup worker, and the browser client bundled into dist/demo.
RUN node scripts/setup.js \
    && npx nest build gateway \
    && test -f dist/demo/app.js \
    && install -D -m 0755 node_modules/mediasoup/worker/out/Release/mediasoup-worker /app/bin/mediasoup-worker

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
# NODE_OPTIONS: a heap limit for one gateway. With V8's default (set by the
# host's memory) the old generation may grow to 4× the live heap before a
# collection, so RSS drifts far above it; at 1 GB it stays within about 1.6×.
# Raise it (compose: NODE_OPTIONS) only together with the container's memory limit.
ENV NODE_ENV=production \
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
COPY --from=build /app/bin ./bin
# Files stay root-owned and read-only to the process; it writes nothing to disk.
USER node
EXPOSE 3000/tcp 39000-39001/udp 39000-39001/tcp 40000-40199/udp
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/apps/gateway/apps/gateway/src/main.js"]
