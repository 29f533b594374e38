# syntax=docker/dockerfile:1
# The regime-fleet image the Helm chart runs (helm/regime-fleet, image.repository):
#   docker build -t regime-fleet:0.1.0 .
# Two stages: wheels for the package, ingest's compiled path (native/) and every dependency, then
# a slim runtime with only the installed packages, the console script and the contracts it reads
# at run time (topology and Avro schemas); no Rust. Non-root (uid 10001, the chart's runAsUser);
# runs on a read-only root filesystem (state in /state, scratch in /tmp: volumes in the chart).
# The product only: harness/ (demo, bench, chaos, the local broker) is outside the build context
# (.dockerignore) and not in the wheel. tests/k8s/test_image.py runs the same pip commands into a
# clean venv, offline, and checks them.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The nautilus extra (docs/nautilus.md): the `nautilus` bridge service needs its redis and msgspec,
# and nautilus_trader 1.221.0 comes with them so the image can also run a node's FleetActor
# (~300 MB more installed). EXTRAS must name an extra (pip refuses an empty `.[]`).
ARG EXTRAS=nautilus

FROM ${PYTHON_IMAGE} AS wheels
# Rust for ingest's compiled path (docs/benchmarks.md) from Debian: rustc 1.63, which
# native/Cargo.toml and its version-3 Cargo.lock are held to. In this stage only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cargo \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Before workers/, so a change there does not rebuild the crate. This cargo reads crates.io's git
# index (no sparse protocol before 1.68): the cache mount keeps its clone between builds.
COPY native ./native
RUN --mount=type=cache,target=/root/.cargo/registry \
    pip wheel --no-cache-dir --wheel-dir /wheels ./native
COPY pyproject.toml README.md ./
COPY workers ./workers
ARG EXTRAS
RUN pip wheel --no-cache-dir --wheel-dir /wheels .[${EXTRAS}]

FROM ${PYTHON_IMAGE}
ARG EXTRAS
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REGIME_FLEET_TOPOLOGY=/opt/regime-fleet/topology/fleet.yaml \
    REGIME_FLEET_SCHEMA_DIR=/opt/regime-fleet/schemas/avro
RUN groupadd --system --gid 10001 regime-fleet \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent regime-fleet
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels regime-fleet[${EXTRAS}] regime-fleet-native
COPY topology/fleet.yaml /opt/regime-fleet/topology/fleet.yaml
COPY schemas/avro/*.avsc /opt/regime-fleet/schemas/avro/
WORKDIR /state
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["regime-fleet"]
CMD ["--help"]
