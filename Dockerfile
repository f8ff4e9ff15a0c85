# clobbercheck's image: `clobbercheck serve` (the GitHub App) as a non-root user, its data
# directory a volume. Build from the repository root:
#   docker build -t clobbercheck .                            # without renderers
#   docker build --build-arg RENDERERS=1 -t clobbercheck .    # with kustomize and helm
# README "Deploy" says what was and was not verified of this file; tests/container.rs lints it
# with hadolint. Debian packages are pinned to their bookworm release line (`3.0.*`), so
# security updates still apply.

ARG RUST_VERSION=1.92
ARG RENDERERS=0

FROM rust:${RUST_VERSION}-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config=1.8.* libssl-dev=3.0.* \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin clobbercheck \
 && strip target/release/clobbercheck

# kustomize and helm for `sources:` render targets, only with RENDERERS=1: most repositories
# hold plain YAML, and the image stays small without them.
FROM debian:bookworm-slim AS renderers-0
RUN mkdir -p /out

FROM debian:bookworm-slim AS renderers-1
ARG KUSTOMIZE_VERSION=5.4.3
ARG HELM_VERSION=3.15.4
ADD https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2Fv${KUSTOMIZE_VERSION}/kustomize_v${KUSTOMIZE_VERSION}_linux_amd64.tar.gz /tmp/kustomize.tar.gz
ADD https://get.helm.sh/helm-v${HELM_VERSION}-linux-amd64.tar.gz /tmp/helm.tar.gz
RUN mkdir -p /out \
 && tar -xzf /tmp/kustomize.tar.gz -C /out kustomize \
 && tar -xzf /tmp/helm.tar.gz -C /out --strip-components=1 linux-amd64/helm \
 && rm /tmp/kustomize.tar.gz /tmp/helm.tar.gz

# A stage chosen by RENDERERS, not an image to tag.
# hadolint ignore=DL3006
FROM renderers-${RENDERERS} AS renderers

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates=20230311* libssl3=3.0.* \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 clobbercheck \
 && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin clobbercheck \
 && mkdir -p /data \
 && chown clobbercheck:clobbercheck /data
COPY --from=build /src/target/release/clobbercheck /usr/local/bin/clobbercheck
COPY --from=renderers /out/ /usr/local/bin/
ENV CLOBBERCHECK_LISTEN=0.0.0.0:3000 \
    CLOBBERCHECK_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 3000
USER 10001:10001
# No curl in the image: bash's /dev/tcp asks /healthz and wants a 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3000 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/clobbercheck"]
CMD ["serve"]
