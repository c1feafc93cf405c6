# Reference SMCP instance as a container image, for `smcp-conformance run --alice-image ...` where a Docker
# engine is reachable. NOT built or run in this repository's CI: its machines have no Docker engine.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /smcp
COPY package.json package-lock.json ./
# The package's postinstall (bin/prune-native-build.js) runs during `npm ci`, so bin/ comes first.
COPY bin ./bin
RUN npm ci --omit=dev --no-audit --no-fund
COPY protocol ./protocol
COPY reference-impl ./reference-impl
COPY schemas ./schemas
# The start-up bundles (bin/launch.js) are built now: the unprivileged user cannot write node_modules later.
RUN node bin/prebuild-bundles.js
# Not root: the instance needs no privilege; /data is owned by the image's unprivileged `node` user so that the
# volume Docker creates from it is writable. Production mode turns response validation off (a debugging aid).
RUN mkdir -p /data && chown node:node /data
ENV NODE_ENV=production
USER node
VOLUME /data
ENTRYPOINT ["node", "bin/smcp.js"]
CMD ["serve", "--name", "smcp.local", "--listen", "0.0.0.0:8448", "--data", "/data"]
