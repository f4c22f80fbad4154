# The memory service image (docs/deploy.md). Two stages on one base:
#   build:   a virtualenv with the service's run-time dependencies and the `memory` package
#   runtime: the base plus that virtualenv, a non-root user, nothing else (no compiler,
#            no pip cache, no tests, no operations library)
# BASE_IMAGE must provide python3 (3.11+) with venv; CI uses the official slim image, the
# tests a Debian base made from Debian's packages (tasks/memory_image.py).
#   docker build -f infra/docker/memory.Dockerfile --build-arg BASE_IMAGE=<image> -t somastack/memory .
# Run it with a read-only root filesystem and a tmpfs on /tmp (numba's cache, temp files).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# PIP_NO_INDEX=1 installs only from wheels placed in infra/docker/wheels/ (offline builds)
ARG PIP_NO_INDEX=0
ENV PIP_NO_INDEX=${PIP_NO_INDEX} \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/memory
# the wheel[s] pattern copies the optional wheelhouse and is no error when it is absent
COPY infra/docker/requirements-memory.txt infra/docker/wheel[s] /build/
RUN /opt/memory/bin/pip install --find-links=/build "setuptools>=68" wheel \
 && /opt/memory/bin/pip install --find-links=/build -r /build/requirements-memory.txt
COPY pyproject.toml setup.cfg README.md /src/
COPY memory /src/memory
RUN /opt/memory/bin/pip install --no-deps --no-build-isolation /src \
 && /opt/memory/bin/pip uninstall -y setuptools wheel pip \
 && find /opt/memory -name __pycache__ -prune -exec rm -rf {} + \
 && find /opt/memory -path '*/tests' -prune -exec rm -rf {} +

FROM ${BASE_IMAGE} AS runtime
ARG UID=10001
RUN groupadd --system --gid ${UID} memory \
 && useradd --system --uid ${UID} --gid ${UID} --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin memory
COPY --from=build /opt/memory /opt/memory
ENV PATH=/opt/memory/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NUMBA_CACHE_DIR=/tmp/numba \
    SOMA_MEMORY_DATA_DIR=/tmp/memory-data
USER ${UID}:${UID}
EXPOSE 9595
# /healthz on the configured port; Python's urllib, so the image needs no curl
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SOMA_MEMORY_PORT', '9595'), timeout=4)"]
ENTRYPOINT ["python3", "-m", "memory"]
CMD ["serve"]
