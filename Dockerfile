FROM python:3.11.7-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams streams
COPY agents agents
COPY projections projections
COPY oddstream oddstream
COPY schemas schemas
RUN pip install --no-cache-dir . && useradd --create-home oddstream && mkdir -p /var/lib/oddstream \
    && chown oddstream /var/lib/oddstream
USER oddstream
EXPOSE 6066
CMD ["oddstream", "worker"]
