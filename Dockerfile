# Production-like image: migrations then the server, configured by DATABASE_URL.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/holdfast
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
RUN /opt/holdfast/bin/pip install --no-cache-dir .

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
