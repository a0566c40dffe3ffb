# syntax=docker/dockerfile:1
#
# mlrun-image-webhook server image. Build (docs/build-and-publish.md for pushing it and pointing the chart at it):
#   VERSION=$(node -p 'require("./package.json").version')
#   docker build --build-arg VERSION="$VERSION" -t mlrun-image-webhook:"$VERSION" .
#
# Base image: the official Node.js image, Node 26 (the Active LTS line since October 2026) on Debian 13 "trixie", slim variant, for both stages.
# - Pinned by tag to the Node major and the Debian release; release builds should pin the digest too
#   (node:26-trixie-slim@sha256:...) and let Renovate/Dependabot bump it.
# - Why not gcr.io/distroless/nodejs26-debian13: distroless publishes no version tags (only the rolling :nonroot), so
#   it can be pinned by digest only, and keeps node outside PATH, while the chart runs `node` in this image (its helm
#   test, and the exec preStop hook on Kubernetes < 1.30). Instead the runtime stage removes npm, npx, corepack and
#   yarn: what is left is node, the app and Debian's base libraries.
# - The runtime writes nothing outside /tmp (the chart mounts the root filesystem read-only) and runs as uid 65532.
ARG NODE_IMAGE=node:26-trixie-slim

# ---- build: full install, compile TypeScript, then drop dev dependencies ------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV NPM_CONFIG_AUDIT=false NPM_CONFIG_FUND=false NPM_CONFIG_UPDATE_NOTIFIER=false
COPY package.json package-lock.json ./
# --ignore-scripts: the sources are not copied yet, so the "prepare" build cannot run here (it runs below).
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
RUN npm prune --omit=dev --ignore-scripts

# ---- runtime: node + dist + production node_modules -----------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.0.0-dev
LABEL org.opencontainers.image.title="mlrun-image-webhook" \
      org.opencontainers.image.description="Kubernetes mutating admission webhook applying MLRun's image rules to every Pod" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 65532:65532
# 8443: HTTPS /mutate (AdmissionReview v1); 8080: /healthz, /readyz, /metrics
EXPOSE 8443 8080
# --single-threaded-gc: V8's background GC threads compete with the one event loop that answers admissions on a
# pod's CPU share and preempt it at random points; the webhook's heap is small (about 16 MB live), so doing GC on the
# event loop costs no more CPU and makes the latency of normal admissions under a flood of large reviews steadier
# (docs/adr/0013-single-threaded-gc.md). V8 flags cannot go in NODE_OPTIONS, hence here.
ENTRYPOINT ["node", "--single-threaded-gc", "/app/dist/cli/main.js"]
CMD ["serve"]
