"""`loyalty doctor`: check a deployment's configuration (warehouse, workflows, providers, webhook receiver,
Airflow, BI) and say in plain words how to fix each problem found."""

from loyalty.doctor.context import Deployment
from loyalty.doctor.render import print_report, to_json
from loyalty.doctor.result import CheckResult
from loyalty.doctor.runner import CHECKS, failed, run_checks

__all__ = ["CHECKS", "CheckResult", "Deployment", "failed", "print_report", "run_checks", "to_json"]
