FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# The CPU build of torch: workers run the encoder on CPU unless a GPU image is built.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
WORKDIR /app

RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0
COPY pyproject.toml README.md alembic.ini ./
COPY migrations ./migrations
COPY trustq ./trustq
# /data belongs to trustq before a volume is mounted there: Docker copies a new named
# volume's owner from the image, so beat's schedule and training runs can be written.
RUN pip install -e . && useradd --create-home trustq \
    && mkdir -p /data && chown trustq:trustq /data
USER trustq
ENTRYPOINT []
CMD ["trustq", "--help"]
