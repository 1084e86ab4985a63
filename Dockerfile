# The project image: Airflow 3.3, dbt, Great Expectations, the `loyalty` package and its entry points (`loyalty`,
# `loyalty-dev`), installed from uv.lock exactly as `make install` does, without the dev tools. Every Airflow
# service, the webhook receiver and the local emulator of docker-compose.yml run it.
FROM python:3.11-slim-bookworm

ARG UV_VERSION=0.13.8
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/loyalty/venv \
    PATH=/opt/loyalty/venv/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow \
    LOYALTY_STATE_DIR=/opt/airflow/state \
    LOYALTY_DBT_MANIFEST=/opt/loyalty/dbt/target/manifest.json

# The same uv as the Makefile's (UV_VERSION there).
RUN pip install "uv==${UV_VERSION}" \
    && useradd --create-home --uid 50000 --gid 0 airflow

WORKDIR /app
# Dependencies first (a layer that changes only with uv.lock), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY plugins ./plugins
COPY dags ./dags
COPY dbt_project ./dbt_project
COPY workflows ./workflows
COPY deploy/airflow-init.sh /usr/local/bin/loyalty-airflow-init
# Editable (uv's default), on purpose: loyalty.paths finds dags/, dbt_project/ and workflows/ next to plugins/.
RUN uv sync --frozen --no-dev \
    && LOYALTY_STATE_DIR=/opt/loyalty loyalty dbt-manifest \
    && chmod 0755 /usr/local/bin/loyalty-airflow-init \
    && mkdir -p /opt/airflow/logs /opt/airflow/state /opt/airflow/auth \
    && chown -R airflow:0 /opt/airflow \
    && chmod -R g+w /opt/airflow

USER airflow
