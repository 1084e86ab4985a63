"""Loyalty workflows."""
