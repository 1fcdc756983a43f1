# The gateway image: Node 20 on Debian with the toolchain the mediasoup worker build needs.
FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ patch \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY . .
# Builds the patched mediasoup worker and the Prisma client, then the TypeScript.
RUN npm run build
ENV PORT=3000 MEDIA_LISTEN_IP=0.0.0.0 MEDIA_MIN_PORT=40000 MEDIA_MAX_PORT=40099
EXPOSE 3000 40000-40099/udp
CMD ["node", "dist/apps/gateway/apps/gateway/src/main.js"]
