# keygate broker image. Build: docker build -t keygate .   Run: see docker-compose.yml.

# --- build: compile TypeScript with the dev dependencies -------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and the compiled output only ---------------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config
# The official image's unprivileged user (uid 1000). Files stay root-owned: the broker only reads them.
USER node
EXPOSE 1883
# Until the HTTP listener exists this only proves the MQTT port accepts TCP (not that Redis answers);
# it becomes `GET /healthz` on HTTP_PORT then. 127.0.0.1 works while MQTT_HOST is 0.0.0.0 (the default).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('net').connect(process.env.MQTT_PORT||1883,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"]
CMD ["node", "dist/server/main.js"]
