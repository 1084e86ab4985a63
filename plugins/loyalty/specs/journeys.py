"""Compile a spec's steps (message, wait, branch, reward) into actions the ledger can plan in SQL.

An action is due for a customer when its parent action was sent (or, for the first action, when
the customer entered) at least `delay_days` ago, its condition on the parent's events holds, and
no exit condition happened since entry. Everything is decided from the ledger and events as of the
run date, so a rerun or backfill of any day plans exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from loyalty.specs.steps import BranchStep, MessageStep, RewardStep, Step, WaitStep


class JourneyError(ValueError):
    """Steps that do not form a journey (with a hint how to fix them)."""


@dataclass(frozen=True)
class Action:
    step_id: str
    kind: str  # "message" | "reward"
    channels: tuple[str, ...]
    parents: tuple[str, ...]  # empty: the first action, anchored on journey entry
    prefers: bool = False  # the customer's preferred channel first (when it is one of `channels`)
    delay_days: int = 0
    condition: tuple[str, bool] | None = None  # (event on the parent, negated?)
    until: tuple[str, int] | None = None  # (event on the parent, max days to wait for it)
    condition_days: int = 0  # the branch is decided on events up to the parent's run date + this
    valid_days: int | None = None  # a deferred message's wait before it expires (None: the program's default)


@dataclass(frozen=True)
class _Cursor:
    parents: tuple[str, ...] = ()
    delay_days: int = 0
    condition: tuple[str, bool] | None = None
    until: tuple[str, int] | None = None
    condition_days: int = 0


def branch_siblings(actions: list[Action], action: Action) -> tuple[str, ...]:
    """The first steps of the other arm of the branch `action` starts an arm of: a customer gets one
    arm only, even when an event that would have chosen the other arm is reported late."""
    if action.condition is None:
        return ()
    event, negated = action.condition
    return tuple(
        other.step_id
        for other in actions
        if other.parents == action.parents
        and other.condition == (event, not negated)
        and other.condition_days == action.condition_days
    )


def compile_steps(steps: Sequence[Step], event_entry: bool) -> list[Action]:
    """Flatten a step tree into actions in execution order; raise JourneyError on nonsense."""
    actions: list[Action] = []
    seen: set[str] = set()
    _walk(steps, _Cursor(), actions, seen, event_entry=event_entry)
    if not actions:
        raise JourneyError("the journey sends nothing: add a message or reward step")
    return actions


def _walk(
    steps: Sequence[Step], cursor: _Cursor, actions: list[Action], seen: set[str], event_entry: bool
) -> list[_Cursor]:
    """Walk steps from a cursor; returns the cursors where this path ends (several after a branch)."""
    cursors = [cursor]
    for step in steps:
        step_id = getattr(step, "id", None)
        if step_id is not None:
            if step_id in seen:
                raise JourneyError(f"step id {step_id!r} is used twice")
            seen.add(step_id)
        if isinstance(step, WaitStep):
            if not any(c.parents for c in cursors) and not event_entry:
                raise JourneyError(
                    "a wait before any message: customers enter on the run date, so there is nothing to wait "
                    "for (hint: move the wait after the first message, or set audience.entered_on to an event date)"
                )
            if step.until is not None:
                if any(not c.parents for c in cursors):
                    raise JourneyError(f"wait until {step.until}: there is no earlier message to watch")
                assert step.max_days is not None  # WaitStep's validator: a wait until an event has max_days
                cursors = [replace(c, until=(step.until, step.max_days)) for c in cursors]
            else:
                assert step.days is not None  # WaitStep's validator: days when there is no until
                cursors = [replace(c, delay_days=c.delay_days + step.days) for c in cursors]
        elif isinstance(step, BranchStep):
            if any(not c.parents for c in cursors):
                raise JourneyError(f"branch {step.id!r} comes before any message: there is nothing to branch on")
            if any(c.condition or c.until for c in cursors):
                raise JourneyError(f"branch {step.id!r} follows another condition: put a message between them")
            merged: list[_Cursor] = []
            for negate, arm in ((False, step.then), (True, step.else_)):
                if arm:
                    arm_start = [
                        replace(c, condition=(step.when, negate), condition_days=c.delay_days) for c in cursors
                    ]
                    for start in arm_start:
                        merged += _walk(arm, start, actions, seen, event_entry)
            if not merged:
                raise JourneyError(f"branch {step.id!r} has two empty arms")
            cursors = _merge(merged)
        elif isinstance(step, MessageStep | RewardStep):
            channels = step.channels if isinstance(step, MessageStep) else ("reward",)
            kind = "message" if isinstance(step, MessageStep) else "reward"
            merged_cursor = _single(cursors, step.id)
            actions.append(
                Action(
                    step_id=step.id,
                    kind=kind,
                    channels=channels,
                    prefers=isinstance(step, MessageStep) and step.prefers,
                    parents=merged_cursor.parents,
                    delay_days=merged_cursor.delay_days,
                    condition=merged_cursor.condition,
                    until=merged_cursor.until,
                    condition_days=merged_cursor.condition_days,
                    valid_days=step.valid_days if isinstance(step, MessageStep) else None,
                )
            )
            cursors = [_Cursor(parents=(step.id,))]
    return cursors


def _merge(cursors: list[_Cursor]) -> list[_Cursor]:
    """After a branch, arms that ended on a message join again: the next step follows any of them."""
    clean = [c for c in cursors if c.condition is None and c.until is None and c.delay_days == 0]
    if len(clean) == len(cursors):
        return [_Cursor(parents=tuple(p for c in clean for p in c.parents))]
    return cursors


def _single(cursors: list[_Cursor], step_id: str) -> _Cursor:
    if len(cursors) == 1:
        return cursors[0]
    raise JourneyError(
        f"step {step_id!r} follows a branch whose arms end in a wait or condition: end each arm with a message"
    )
