# Production-like image: migrations then the server, configured by DATABASE_URL.
# Everything installed comes from the hashed lock files (regenerate them with .ci/lock): pip
# refuses any package, version or file that is not in them, and the build fails unless the
# image holds exactly the locked versions.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.lock requirements-build.lock ./
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir --require-hashes -r requirements-build.lock \
    && python -m venv /opt/holdfast \
    && /opt/holdfast/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
# The project's own wheel, built with the locked backend and installed without dependencies
# (they are all in place, from the lock).
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/holdfast/bin/pip install --no-cache-dir --no-deps /wheels/holdfast-*.whl
COPY .ci/check_lock.py ./
RUN /opt/build/bin/python check_lock.py requirements.lock /opt/holdfast/bin/python

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 holdfast
COPY --from=build /opt/holdfast /opt/holdfast
ENV PATH=/opt/holdfast/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOLDFAST_HOST=0.0.0.0 \
    HOLDFAST_DATA_DIR=/home/holdfast/data
USER holdfast
WORKDIR /home/holdfast
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
# `serve` applies migrations before it listens.
CMD ["holdfast", "serve"]
