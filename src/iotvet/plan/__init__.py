"""The plan file: schema (public keys), loader (line-numbered errors), WFC import, example."""

from iotvet.plan.loader import LoadedPlan, PlanWarning, load_plan
from iotvet.plan.schema import Identity, Plan

__all__ = ["Identity", "LoadedPlan", "Plan", "PlanWarning", "load_plan"]
