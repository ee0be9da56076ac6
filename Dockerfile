# incidentdesk: a stateless API server. Run any number of replicas against one PostgreSQL.
#
#   docker build -t incidentdesk .
#   docker run -p 8000:8000 \
#     -e INCIDENTDESK_DATABASE_URL=postgresql://owner:...@db/incidentdesk \
#     -e INCIDENTDESK_APP_DATABASE_URL=postgresql://incidentdesk_app:...@db/incidentdesk \
#     -e INCIDENTDESK_PUBLIC_URL=https://incidents.example.com \
#     -e INCIDENTDESK_KEY_ENCRYPTION_KEY=... \
#     incidentdesk
#
# The default command migrates, then serves; `docker run ... incidentdesk migrate` only migrates, and
# every other subcommand of the command line works the same way (`tenant create`, `client create`, ...).

# ---------------------------------------------------------------- build: the project in a virtualenv
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir api domain auth migrations \
    && touch api/__init__.py domain/__init__.py auth/__init__.py migrations/__init__.py \
    && pip install . \
    && pip uninstall --yes incidentdesk \
    && rm -rf api domain auth migrations build *.egg-info

COPY api ./api
COPY domain ./domain
COPY auth ./auth
COPY migrations ./migrations
RUN pip install --no-deps . \
    && python -m compileall -q /opt/venv/lib \
    && incidentdesk --help > /dev/null

# ---------------------------------------------------------------- runtime
FROM python:3.11-slim AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INCIDENTDESK_HOST=0.0.0.0 \
    INCIDENTDESK_PORT=8000 \
    INCIDENTDESK_DATA_DIR=/var/lib/incidentdesk

RUN groupadd --system --gid 10001 incidentdesk \
    && useradd --system --uid 10001 --gid incidentdesk --no-log-init \
       --home-dir /var/lib/incidentdesk --create-home --shell /usr/sbin/nologin incidentdesk

COPY --from=builder /opt/venv /opt/venv

USER 10001:10001
WORKDIR /var/lib/incidentdesk

EXPOSE 8000

# The slim image has no curl: ask /healthz with the interpreter that is there anyway.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('INCIDENTDESK_PORT', '8000'), timeout=3)"]

# `serve` migrates first (under a lock, so replicas starting together take turns), then runs uvicorn.
# Without INCIDENTDESK_DATABASE_URL it starts an embedded PostgreSQL in the data dir: for a quick try only.
ENTRYPOINT ["incidentdesk"]
CMD ["serve", "--host", "0.0.0.0"]
