# A stand-in for the redis image where no registry is reachable (make test-compose): Debian's Redis 7 on the
# local base, with what deploy/compose.yaml relies on (redis-server and redis-cli on the PATH, the append-only
# file in /data). Not for production.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o redis -g redis /data
WORKDIR /data
USER redis
CMD ["redis-server"]
