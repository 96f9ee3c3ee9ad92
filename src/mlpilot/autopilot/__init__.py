"""The autopilot: triggers, the release state machine, online analysis, crash-safe recovery.

A controller (:class:`Autopilot`, built by :meth:`mlpilot.project.Project.autopilot`) holds
the project's lease and, every tick, evaluates the monitors, fires the ``[[trigger]]`` whose
conditions hold, and moves the one release in flight::

    triggered → training → gated → (rejected | canary | shadow | ab) → analysing
              → (promoted | rolled_back), or failed from any middle state

Each transition is one transaction with its audit event ``release.<state>``. The analysis
compares the challenger with the champion on the prediction log (errors, latency, prediction
distribution, the metric on labelled feedback) with anytime-valid confidence sequences.
"""

from mlpilot.autopilot._analysis import Analysis, VariantStats, analyse, metric_for
from mlpilot.autopilot._controller import Autopilot, TickReport
from mlpilot.autopilot._releases import TERMINAL, Release, ReleaseBook, TriggerEvent
from mlpilot.autopilot._stats import Interval, difference_sequence, mean_sequence, paired_sequence
from mlpilot.autopilot._triggers import Firing, check_triggers

__all__ = [
    "TERMINAL",
    "Analysis",
    "Autopilot",
    "Firing",
    "Interval",
    "Release",
    "ReleaseBook",
    "TickReport",
    "TriggerEvent",
    "VariantStats",
    "analyse",
    "check_triggers",
    "difference_sequence",
    "mean_sequence",
    "metric_for",
    "paired_sequence",
]
