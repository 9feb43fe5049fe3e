# One image for the tracker and the peers: `p2p tracker` or `p2p peer --dir /data`.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY actors ./actors
COPY machines ./machines
COPY config ./config
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/package.json ./package.json
COPY config ./config
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/p2p && chmod +x /app/dist/src/cli/main.js
ENTRYPOINT ["p2p"]
CMD ["--help"]
