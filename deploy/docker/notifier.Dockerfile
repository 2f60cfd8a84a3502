# syntax=docker/dockerfile:1
# The notifier service. Build from the repository root:
#   docker build -f deploy/docker/notifier.Dockerfile -t slm-notifier:dev .
# Installs the same packages, pinned by the same constraints.txt, that `make run` installs.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
# A virtual environment without pip of its own: nothing to install things with at run time.
RUN python -m venv --without-pip /opt/venv
WORKDIR /src
COPY constraints.txt ./
COPY shared/ shared/
COPY services/notifier/ services/notifier/
# Constraints pin every transitive dependency to the versions `make run` installs.
RUN pip --python /opt/venv/bin/python install --no-compile -c constraints.txt ./shared ./services/notifier \
    && pip --python /opt/venv/bin/python check \
    && /opt/venv/bin/python -m compileall -q /opt/venv

FROM ${PYTHON_IMAGE} AS runtime
# The base image's own installer goes too: the final image runs code, it builds nothing.
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
    && groupadd --system --gid 10001 slm \
    && useradd --system --uid 10001 --gid slm --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin slm
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NOTIFIER_HOST=0.0.0.0 \
    NOTIFIER_PORT=8080
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
# SIGTERM drains HTTP requests for up to 10 s, then stops the workers (see deploy/k8s: preStop and grace period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["slm-notifier"]
CMD ["serve"]
