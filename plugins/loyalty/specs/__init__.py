"""Workflow specs and everything read from them: the spec model, its journey, templates, checks, seeds, preview.

Imports point one way: steps ← journeys ← workflow ← loading; templates, checks, seeds and preview
read specs and are imported from their own modules (they pull in Jinja and the dbt project).
"""

from loyalty.specs.journeys import Action, JourneyError, branch_siblings, compile_steps
from loyalty.specs.loading import SpecError, line_of, load_spec, spec_paths
from loyalty.specs.steps import CHANNEL_CONSENT, BranchStep, MessageStep, RewardStep, Step, Template, WaitStep
from loyalty.specs.workflow import Audience, Experiment, Policies, Variant, WorkflowSpec, compile_journey, reward_steps

__all__ = [
    "CHANNEL_CONSENT",
    "Action",
    "Audience",
    "BranchStep",
    "Experiment",
    "JourneyError",
    "MessageStep",
    "Policies",
    "RewardStep",
    "SpecError",
    "Step",
    "Template",
    "Variant",
    "WaitStep",
    "WorkflowSpec",
    "branch_siblings",
    "compile_journey",
    "compile_steps",
    "line_of",
    "load_spec",
    "reward_steps",
    "spec_paths",
]
