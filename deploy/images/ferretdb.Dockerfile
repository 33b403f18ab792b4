# deploy/ferretdb (FerretDB v1, SQLite) built on the host by
# scripts/images.sh: the MongoDB-compatible server the end-to-end test uses
# where MongoDB images cannot be pulled. Its files live in /data/db, where
# compose mounts the MongoDB volumes.
FROM scratch
COPY ferretdb /app
COPY --chown=65534:65534 data /data/db
USER 65534:65534
EXPOSE 27017
ENTRYPOINT ["/app"]
