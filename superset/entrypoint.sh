#!/bin/sh
# Migrate the metadata, create the admin, import superset/bundle (database URI from the environment), then serve.
set -eu
python /app/bootstrap.py /app/bundle
exec gunicorn --bind "0.0.0.0:8088" --workers "${SUPERSET_WORKERS:-4}" --worker-class gthread --threads 8 \
    --timeout 120 --access-logfile - "superset.app:create_app()"
