# source-monitor: the daemon in a container, MONITOR_HOME on a volume.
#   docker build -t source-monitor .
#   docker run -d --name monitor -v monitor-data:/data source-monitor
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MONITOR_HOME=/data \
    MONITOR_CONFIG=/app/config/sources.toml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY config ./config
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin monitor \
    && mkdir -p /data \
    && chown monitor:monitor /data

USER monitor
VOLUME ["/data"]
# The dashboard, with `run --web --host 0.0.0.0` and MONITOR_WEB__TOKEN set (see README).
EXPOSE 8765

# Healthy while the daemon's scheduler keeps ticking (heartbeat in /data/archive/daemon.json).
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 CMD ["monitor", "health"]

ENTRYPOINT ["monitor"]
CMD ["run"]
