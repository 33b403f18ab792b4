# A shopbus binary built on the host (scripts/images.sh) on an empty image.
# Users building from source use deploy/Dockerfile instead.
FROM scratch
ARG BINARY
COPY ${BINARY} /app
USER 65534:65534
ENTRYPOINT ["/app"]
