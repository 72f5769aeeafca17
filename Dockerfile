# paperboy: one image for every command (ingest now; run and serve as they arrive).
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
    && mkdir -p /data/inbox && chown -R paperboy /data

USER paperboy
VOLUME ["/data"]
ENTRYPOINT ["paperboy"]
CMD ["ingest"]
