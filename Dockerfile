# paperboy: one image for every command; by default the service, `paperboy run`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PAPERBOY_DATABASE_URL=sqlite:////data/paperboy.db \
    PAPERBOY_INBOX=/data/inbox PAPERBOY_OUTBOX=/data/outbox PAPERBOY_PUBLIC_DIR=/data/public

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY templates ./templates
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system --uid 1000 --home /data paperboy \
    && mkdir -p /data/inbox /data/outbox /data/public && chown -R paperboy /data

USER paperboy
VOLUME ["/data"]
# Healthy while the verdict is ok or empty; stale or failing (see `paperboy status`) is unhealthy.
HEALTHCHECK --interval=5m --timeout=30s --start-period=2m --retries=1 CMD ["paperboy", "status", "--quiet"]
ENTRYPOINT ["paperboy"]
CMD ["run"]
