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
# MQTT (MQTT_PORT), MQTT over TLS (MQTTS_PORT; on once TLS_CERT_FILE and TLS_KEY_FILE are set) and the
# HTTP endpoints /healthz /readyz /metrics (HTTP_PORT). WebSocket listeners are off unless WS_PORT / WSS_PORT
# are set: publish those ports too when you set them.
EXPOSE 1883
EXPOSE 8883
EXPOSE 9102
# GET /healthz on HTTP_PORT (200 while the process runs; /readyz is the one that follows Redis). Every
# listener binds MQTT_HOST: loopback works while it is 0.0.0.0 or :: (the default), else that address.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const h=process.env.MQTT_HOST;require('http').get({host:!h||h==='0.0.0.0'||h==='::'?'127.0.0.1':h,port:process.env.HTTP_PORT||9102,path:'/healthz',timeout:2000},(r)=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]
# Node options: src/server/node-options.ts (the same as `npm start`'s).
CMD ["node", "--no-allocation-site-pretenuring", "dist/server/main.js"]
