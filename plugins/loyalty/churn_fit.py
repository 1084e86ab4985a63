"""Fit the MBG/NBD churn model's parameters by maximum likelihood; write the dbt seed.

dim_customers.p_alive (dbt_project/macros/churn.sql) needs four population parameters: purchase
rates λ ~ Gamma(r, α) per day and the dropout probability after each order p ~ Beta(a, b). This
module fits them to the customers' (x, t_x, T) as of one run date, read from marts.dim_customers:
x = repeat orders, t_x = days from first to last order, T = days from first order to the run date.

The likelihood of one customer (Batislam, Denizel & Filiztekin 2007) is
    B(a, b+x+1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
  + B(a+1, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x)).

    python -m loyalty.churn_fit --run-date 2026-05-31     # fits and rewrites the seed

Needs scipy (optimiser and log-gamma); nothing else in the package imports this module.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loyalty import warehouse
from loyalty.paths import DBT_PROJECT_DIR
from loyalty.sql_files import query

SEED_PATH = DBT_PROJECT_DIR / "seeds" / "churn_model_parameters.csv"


@dataclass(frozen=True)
class Parameters:
    rate_r: float
    rate_alpha: float
    dropout_a: float
    dropout_b: float


def negative_log_likelihood(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> float:
    """Minus the MBG/NBD log-likelihood of all customers; parameters on the log scale."""
    from scipy.special import betaln, gammaln, logsumexp

    r, alpha, a, b = np.exp(log_params)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    still_alive = betaln(a, b + x + 1) - betaln(a, b) + common - (r + x) * np.log(alpha + big_t)
    dropped_out = betaln(a + 1, b + x) - betaln(a, b) + common - (r + x) * np.log(alpha + t_x)
    return -float(np.sum(logsumexp(np.stack([still_alive, dropped_out]), axis=0)))


def fit(x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> Parameters:
    """Maximum-likelihood parameters (Nelder–Mead on log-parameters, from a neutral start)."""
    from scipy.optimize import minimize

    start = np.log([1.0, 30.0, 1.0, 3.0])
    result = minimize(
        negative_log_likelihood,
        start,
        args=(x, t_x, big_t),
        method="Nelder-Mead",
        options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-6},
    )
    if not result.success:
        raise RuntimeError(f"MBG/NBD fit did not converge: {result.message}")
    return Parameters(*(float(v) for v in np.exp(result.x)))


def fit_from_warehouse(url: str, run_date: dt.date) -> tuple[Parameters, int]:
    """Fit on the buyers of marts.dim_customers for `run_date`; returns the parameters and the count."""
    with warehouse.connect(url) as conn:
        rows = conn.execute(query("churn/customer_summary.sql"), {"run_date": run_date}).fetchall()
    if not rows:
        raise RuntimeError(f"marts.dim_customers has no buyers for run date {run_date}: build dbt first")
    x, t_x, big_t = (np.asarray(column, dtype=float) for column in zip(*rows, strict=True))
    return fit(x, t_x, big_t), len(rows)


def write_seed(parameters: Parameters, fitted_on: str, customers: int, path: Path = SEED_PATH) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["model", "rate_r", "rate_alpha", "dropout_a", "dropout_b", "fitted_on", "fitted_customers"])
        writer.writerow(
            [
                "mbg_nbd",
                f"{parameters.rate_r:.4f}",
                f"{parameters.rate_alpha:.4f}",
                f"{parameters.dropout_a:.4f}",
                f"{parameters.dropout_b:.4f}",
                fitted_on,
                customers,
            ]
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-date", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--label", default="", help="what the data is, recorded in the seed's fitted_on")
    args = parser.parse_args(argv)
    parameters, customers = fit_from_warehouse(warehouse.resolve_url(), args.run_date)
    label = f"{args.label} as of {args.run_date}".strip()
    write_seed(parameters, label, customers)
    print(f"{parameters} from {customers} customers -> {SEED_PATH}")


if __name__ == "__main__":
    main()
