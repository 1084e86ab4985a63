"""Tooling around the product, never imported by it: the provider emulator, the synthetic retailer and its
ground truth, the demo, a local Airflow and the local service helpers (`loyalty-dev`)."""
