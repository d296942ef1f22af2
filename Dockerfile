# syntax=docker/dockerfile:1.7
# One image per function, from one Dockerfile:
#   docker build --build-arg FUNCTION=sender -t registry.example.com/billing/billing-sender:0.1.0 .
# The same image runs on Knative (PORT injected), on OpenFaaS (port 8080, /_/health answered by the
# function) and on plain Kubernetes. Its `billing` CLI also serves the migration Job and the connector.
ARG PYTHON_VERSION=3.11

# ---- builder: resolve and install the project (core package + dependencies) into a venv -----------
FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# `pip install .` (not -e) installs the dependencies and the core package together:
# the billing package is vendored into site-packages, so the final image needs no source tree.
COPY pyproject.toml README.md constraints.txt ./
COPY shared ./shared
# Byte-compile at build time: the runtime user cannot write __pycache__ into the venv, and compiling
# sqlalchemy/pydantic on every cold start would cost hundreds of milliseconds.
# constraints.txt pins every dependency to what CI tested; no extras: the simulator's aiohttp and the
# dev tools stay out of production images.
RUN pip install --upgrade pip \
 && pip install -c constraints.txt . \
 && pip uninstall -y pip \
 && python -m compileall -q -j 0 /opt/venv

# ---- runtime: slim Python, no compilers, non-root --------------------------------------------------
FROM python:${PYTHON_VERSION}-slim AS runtime
ARG FUNCTION=send
# functions-framework defaults to cpu_count()*4 gthreads (the node's CPUs, not the pod's quota):
# THREADS here is a sane default and the manifests set it to match containerConcurrency.
LABEL org.opencontainers.image.title="billing-${FUNCTION}" \
      org.opencontainers.image.description="billing function ${FUNCTION} on functions-framework"
ENV FUNCTION=${FUNCTION} \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BILLING_ENV=production \
    THREADS=4
RUN groupadd --system --gid 10001 billing \
 && useradd --system --uid 10001 --gid billing --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin billing
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY functions/__init__.py functions/__init__.py
COPY functions/${FUNCTION}/ functions/${FUNCTION}/
COPY --chmod=0755 deploy/image/entrypoint.sh /usr/local/bin/billing-entrypoint
RUN test -f "functions/${FUNCTION}/main.py" \
 && python -m compileall -q functions
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"
ENTRYPOINT ["/usr/local/bin/billing-entrypoint"]
# Shell form inside `sh -c` so ${FUNCTION} and ${PORT} expand at run time; `exec` makes gunicorn PID 1 so
# SIGTERM reaches it directly and it drains in-flight requests.
CMD ["sh", "-c", "exec functions-framework --source functions/${FUNCTION}/main.py --target ${FUNCTION} --port ${PORT:-8080}"]
