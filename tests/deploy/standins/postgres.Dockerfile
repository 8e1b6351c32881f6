# A stand-in for the postgres image where no registry is reachable (make test-compose): Debian's PostgreSQL on
# the local base, keeping the contract deploy/compose.yaml relies on (POSTGRES_USER, POSTGRES_PASSWORD and
# POSTGRES_DB on the first start, data under /var/lib/postgresql, pg_isready). Not for production.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
# No cluster from the package: the entrypoint makes one in the volume.
RUN mkdir -p /etc/postgresql-common \
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold postgresql-15 \
    && rm -rf /var/lib/apt/lists/*
COPY --chmod=755 postgres-entrypoint.sh /usr/local/bin/
USER postgres
# The postgres image's: a fast shutdown, which does not wait for clients to disconnect.
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
