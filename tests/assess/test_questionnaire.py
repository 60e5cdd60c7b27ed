"""The questionnaire loader: one UserError naming file, line and field; applicability; the lab examples."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from iotvet.assess import Questionnaire, load_catalogue, load_questionnaire, render_questionnaire
from iotvet.assess.template import blank_questionnaire
from iotvet.core.errors import UserError

CAT = load_catalogue()
DATA = resources.files("iotvet.assess").joinpath("data")

MINIMAL = """\
vendor:
  name: Acme Cloud
conditions:
  passwords_used: yes
claims:
  "5.1-1":
    implemented: yes
"""


def load(tmp_path: Path, text: str) -> Questionnaire:
    path = tmp_path / "q.yaml"
    path.write_text(text, encoding="utf-8")
    return load_questionnaire(str(path))


def error(tmp_path: Path, text: str) -> UserError:
    with pytest.raises(UserError) as info:
        load(tmp_path, text)
    exc = info.value
    assert "\n" not in str(exc) and str(exc).startswith(str(tmp_path / "q.yaml"))
    return exc


def test_minimal_questionnaire_loads(tmp_path: Path) -> None:
    q = load(tmp_path, MINIMAL)
    assert q.vendor.name == "Acme Cloud" and q.conditions.passwords_used == "yes"
    assert q.claim("5.1-1").implemented == "yes" and q.claim("5.2-1").implemented == "unknown"
    assert q.standard == "EN 303 645 V2.1.1" and q.iotvet_questionnaire == 1


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    (MINIMAL.replace("conditions:", "condtions:"), 3, "condtions",
     "unknown key 'condtions'; did you mean 'conditions'?"),
    (MINIMAL.replace('"5.1-1"', '"5.1-11"'), 6, "claims.5.1-11", "unknown provision '5.1-11'; did you mean '5.1-1'?"),
    (MINIMAL.replace('"5.1-1"', '"5.1.1"'), 6, "claims.5.1.1",
     "unknown provision '5.1.1'; did you mean '5.1-1'? (ids look like 5.1-1, 4-1 or 6-2)"),
    (MINIMAL.replace('"5.1-1"', '"7-1"'), 6, "claims.7-1", "unknown provision '7-1'"),
    (MINIMAL.replace("implemented:", "implmented:"), 7, "claims.5.1-1.implmented",
     "unknown key 'implmented'; did you mean 'implemented'?"),
    (MINIMAL.replace("implemented: yes", "implemented: maybe"), 7, "claims.5.1-1.implemented",
     "'maybe' is not one of yes, no, unknown"),
    (MINIMAL.replace("passwords_used: yes", "pasword_used: yes"), 4, "conditions.pasword_used",
     "unknown key 'pasword_used'; did you mean 'passwords_used'?"),
    (MINIMAL.replace("  name: Acme Cloud", "  product: X"), 1, "vendor.name", "required key is missing"),
    (MINIMAL.replace("  name: Acme Cloud", "  name: 42"), 2, "vendor.name", "input should be a valid string"),
    (MINIMAL + "vendr: {}\n", 8, "vendr", "did you mean 'vendor'?"),
    (MINIMAL.replace("vendor:\n  name: Acme Cloud\n", "") + "x: 1\n", 6, "x", "unknown key 'x'"),
])
def test_mistakes_name_line_and_field(tmp_path: Path, text: str, line: int, field: str, message: str) -> None:
    exc = error(tmp_path, text)
    assert exc.source is not None
    assert (exc.source.line, exc.source.field) == (line, field), str(exc)
    assert message in exc.message, exc.message


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("vulnerability_disclosure", "acknowledgement_days", '"five"', "input should be a valid integer"),
    ("vulnerability_disclosure", "status_update_days", "-1", "greater than or equal to 0"),
    ("vulnerability_disclosure", "policy_url", "ftp://x.example/p", "expected a URL starting with https://"),
    ("support_period", "end_date", "soon", "expected a date such as 2028-12-31"),
    ("support_period", "end_date", "2030-12-31 10:00:00", "without a time"),
    ("updates", "mechanism", "automatc", "did you mean 'automatic'?"),
    ("credentials", "device_passwords", "unique-per-devce", "did you mean 'unique-per-device'?"),
    ("communications", "minimum_tls_version", "1.2", "is not one of tls1.2, tls1.3, unknown"),
    ("access_control", "public_endpoints", '"GET /status"', "input should be a valid list"),
    ("authentication", "lockout_threshold", "0", "greater than or equal to 1"),
])
def test_extra_information_values_are_checked(tmp_path: Path, section: str, key: str, value: str,
                                              message: str) -> None:
    text = MINIMAL + f"{section}:\n  {key}: {value}\n"
    exc = error(tmp_path, text)
    assert exc.source is not None and (exc.source.line, exc.source.field) == (9, f"{section}.{key}"), str(exc)
    assert message in exc.message, exc.message


def test_product_category_typo_gets_a_suggestion(tmp_path: Path) -> None:
    exc = error(tmp_path, MINIMAL.replace("  name: Acme Cloud", "  name: Acme Cloud\n  product_category: camra"))
    assert exc.source is not None and (exc.source.line, exc.source.field) == (3, "vendor.product_category")
    assert "did you mean 'camera'?" in exc.message


def test_recommendation_marked_no_needs_a_justification(tmp_path: Path) -> None:
    text = MINIMAL + '  "5.2-2":\n    implemented: no\n'
    exc = error(tmp_path, text)
    assert exc.source is not None and (exc.source.line, exc.source.field) == (8, "claims.5.2-2.justification")
    assert "5.2-2 is a recommendation marked not implemented" in exc.message and "4-1" in exc.message
    blank = error(tmp_path, text + '    justification: "  "\n')
    assert blank.source is not None and blank.source.line == 10
    justified = load(tmp_path, text + "    justification: Not offered; planned for 2026.\n")
    assert justified.claim("5.2-2").implemented == "no"


def test_mandatory_marked_no_needs_no_justification(tmp_path: Path) -> None:
    assert load(tmp_path, MINIMAL.replace("implemented: yes", "implemented: no")).claim("5.1-1").implemented == "no"


@pytest.mark.parametrize(("condition", "mechanism"), [("no", "automatic"), ("yes", "none")])
def test_update_mechanism_must_agree_with_the_condition(tmp_path: Path, condition: str, mechanism: str) -> None:
    text = MINIMAL.replace("passwords_used: yes", f"update_mechanism: {condition}") + \
        f"updates:\n  mechanism: {mechanism}\n"
    exc = error(tmp_path, text)
    assert exc.source is not None and (exc.source.line, exc.source.field) == (9, "updates.mechanism")
    assert "contradicts conditions.update_mechanism" in exc.message


def test_several_problems_are_counted(tmp_path: Path) -> None:
    exc = error(tmp_path, MINIMAL.replace("passwords_used: yes", "passwords_used: maybe\n  update_mechanism: 3"))
    assert exc.message.endswith("(and 1 more problem)")


@pytest.mark.parametrize(("text", "message"), [
    ("", "a questionnaire is a YAML mapping"),
    ("- vendor\n", "a questionnaire is a YAML mapping"),
    ("vendor: {name: a}\nvendor: {name: b}\n", "key 'vendor' appears twice"),
    ("vendor: [\n", "not valid YAML"),
    (MINIMAL + "iotvet_questionnaire: 2\n", "this iotvet reads questionnaire format 1, not 2"),
    (MINIMAL + "standard: EN 303 645 V3.1.3\n", "is not one of EN 303 645 V2.1.1"),
])
def test_unusable_files(tmp_path: Path, text: str, message: str) -> None:
    assert message in error(tmp_path, text).message


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="file not found"):
        load_questionnaire(str(tmp_path / "nope.yaml"))


def test_empty_keys_keep_defaults_and_booleans_are_answers(tmp_path: Path) -> None:
    q = load(tmp_path, MINIMAL.replace("implemented: yes", "implemented:")
             + "updates:\naccess_control:\n  public_endpoints:\n  tenant_segregation: false\n")
    assert q.claim("5.1-1").implemented == "unknown"
    assert q.updates.mechanism == "unknown" and q.access_control.public_endpoints == []
    assert q.access_control.tenant_segregation == "no"


def _answers(**conditions: str) -> Questionnaire:
    return Questionnaire.model_validate({"vendor": {"name": "x"}, "conditions": conditions})


def test_applicability_follows_the_conditions() -> None:
    q = _answers(constrained_device="no", update_mechanism="yes", network_updates="unknown")
    assert q.applicability(CAT.provision("5.1-5")) == "applies"  # C(5): not constrained
    assert q.applicability(CAT.provision("5.3-14")) == "not-applicable"  # C(3,4): C(4) fails
    assert q.applicability(CAT.provision("5.3-10")) == "undecided"  # C(11,12): 11 unknown
    assert q.applicability(CAT.provision("5.3-7")) == "applies"  # C(12)
    assert q.applicability(CAT.provision("5.2-1")) == "applies"  # unconditional
    assert _answers().applicability(CAT.provision("5.1-5")) == "undecided"


@pytest.mark.parametrize(("category", "uk", "expected"), [
    ("camera", "yes", "applies"), ("camera", "unknown", "undecided"), ("camera", "no", "not-applicable"),
    ("vehicle", "yes", "not-applicable"), ("ev-charge-point", "yes", "not-applicable"),
    ("non-consumer", "yes", "not-applicable"), ("unknown", "yes", "undecided"),
])
def test_psti_applicability(category: str, uk: str, expected: str) -> None:
    q = Questionnaire.model_validate({"vendor": {"name": "x", "product_category": category, "uk_market": uk}})
    assert q.psti_applicability() == expected


def _same(a: Questionnaire, b: Questionnaire) -> None:
    assert a.model_dump(exclude={"claims"}) == b.model_dump(exclude={"claims"})
    assert all(a.claim(p.id) == b.claim(p.id) for p in CAT.provisions)


@pytest.mark.parametrize("name", ["lab-questionnaire.yaml", "lab-questionnaire-vehicle.yaml"])
def test_lab_questionnaires_are_valid_and_sound_reputable(name: str) -> None:
    q = load_questionnaire(str(DATA.joinpath(name)))
    assert q.vendor.name == "Lab Provider"
    assert q.access_control.tenant_segregation == q.authentication.login_rate_limiting == "yes"
    assert q.credentials.per_device_service_credentials == q.communications.tls_everywhere == "yes"
    assert q.credentials.device_passwords == "user-set" and q.vulnerability_disclosure.security_txt == "yes"
    assert q.vulnerability_disclosure.acknowledgement_days == 5 and q.vulnerability_disclosure.status_update_days == 14
    assert q.access_control.public_endpoints == ["GET /status", "GET /firmware"]  # the lab's public-by-design routes
    assert q.psti_applicability() == ("applies" if q.vendor.product_category == "camera" else "not-applicable")
    justified = [p for p, c in q.claims.items() if c.implemented == "no"]
    assert justified == ["5.11-4"] and not CAT.provision("5.11-4").mandatory
    _same(q, load_questionnaire(str(DATA.joinpath(name))))


def test_rendering_loads_back_to_the_same_answers(tmp_path: Path) -> None:
    lab = load_questionnaire(str(DATA.joinpath("lab-questionnaire.yaml")))
    _same(load(tmp_path, render_questionnaire(lab)), lab)
    blank = blank_questionnaire('Ünïcode "quoted" #vendor: yes')
    loaded = load(tmp_path, render_questionnaire(blank))
    _same(loaded, blank)
    assert loaded.vendor.name == 'Ünïcode "quoted" #vendor: yes'
    assert list(loaded.claims) == [p.id for p in CAT.provisions]
    assert {c.implemented for c in loaded.claims.values()} == {"unknown"}


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "x" * 301, "tab\there"])
def test_bad_vendor_names_are_user_errors(name: str) -> None:
    with pytest.raises(UserError, match=r"^--vendor: "):
        blank_questionnaire(name)
