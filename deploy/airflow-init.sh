#!/bin/sh
# One-shot before the Airflow services start (the `airflow-init` service of docker-compose.yml; safe to run again):
# write the simple auth manager's passwords from AIRFLOW_PASSWORDS (first: a bad value stops it before anything
# changes), migrate Airflow's metadata, set one pool per channel, create or update the warehouse's application tables.
#   LOYALTY_POOLS       "pool=slots ..." (default "email=4 sms=4 push=4 reward=2": send tasks in parallel per channel)
#   AIRFLOW_PASSWORDS   JSON object, user -> password, one entry per user of AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS
set -eu

python - <<'PY'
"""The simple auth manager reads passwords from its file; refuse a missing or partial AIRFLOW_PASSWORDS by name."""
import json
import os
import sys

users = [u.split(":")[0].strip() for u in os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "").split(",") if u]
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
try:
    passwords = json.loads(os.environ.get("AIRFLOW_PASSWORDS", ""))
except json.JSONDecodeError as error:
    sys.exit(f"AIRFLOW_PASSWORDS is not JSON ({error}): expected {{\"user\": \"password\", ...}}")
if not isinstance(passwords, dict) or not all(isinstance(v, str) and v for v in passwords.values()):
    sys.exit("AIRFLOW_PASSWORDS must be a JSON object of non-empty passwords: {\"user\": \"password\", ...}")
missing = [user for user in users if user not in passwords]
if missing:
    sys.exit(f"AIRFLOW_PASSWORDS has no password for {', '.join(missing)} (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS)")
with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
    json.dump({user: passwords[user] for user in users}, file)
print(f"passwords written for {', '.join(users)}")
PY

airflow db migrate

for entry in ${LOYALTY_POOLS:-email=4 sms=4 push=4 reward=2}; do
    pool=${entry%%=*}
    slots=${entry#*=}
    airflow pools set "$pool" "$slots" "$pool sends"
done

# The application tables at this release's migrations (a new warehouse: all of them).
loyalty warehouse upgrade
