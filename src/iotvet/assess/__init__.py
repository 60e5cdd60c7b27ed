"""Assessment: the EN 303 645 / UK PSTI / DCMS catalogue and the vendor questionnaire.

Sits after ``report``: it may read checks, stored runs and reports to weigh a vendor's claims
against probe evidence. The catalogue (:func:`load_catalogue`), the questionnaire
(:func:`load_questionnaire`, :func:`render_questionnaire`), and the evaluation:
:func:`iotvet.assess.evaluate.evaluate` weighs them against stored runs and observations through
the evidence map (:mod:`iotvet.assess.evidence_map`) into an :class:`iotvet.assess.result.Assessment`.
"""

from iotvet.assess.catalogue import SCOPE_NOTE, Catalogue, Condition, Provision, load_catalogue
from iotvet.assess.questionnaire import Claim, Questionnaire, load_questionnaire
from iotvet.assess.template import blank_questionnaire, render_questionnaire

__all__ = [
    "SCOPE_NOTE",
    "Catalogue",
    "Claim",
    "Condition",
    "Provision",
    "Questionnaire",
    "blank_questionnaire",
    "load_catalogue",
    "load_questionnaire",
    "render_questionnaire",
]
