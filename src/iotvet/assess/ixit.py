"""The questionnaire's extra testing information, after TS 103 701's IXIT: what the vendor declares.

Each field is a claim that documents or probe evidence can later confirm or contradict, and names
the EN 303 645 provisions it informs. Answers are ``yes``, ``no`` or ``unknown`` unless the field
says otherwise.
"""

from __future__ import annotations

from typing import Literal

from iotvet.assess.fields import Answer, Count, Day, Days, Line, Section, Url, ask


class VulnerabilityDisclosure(Section):
    """How security researchers reach the vendor, and how quickly they hear back."""

    policy_url: Url | None = ask("Where the vulnerability disclosure policy is published.", "5.2-1", default=None)
    contact: Line | None = ask("Where reports go: an email address or a web form URL.", "5.2-1", default=None)
    acknowledgement_days: Days | None = ask(
        "Days within which a reporter is promised a first acknowledgement.", "5.2-1", default=None)
    status_update_days: Days | None = ask(
        "Days between status updates the reporter is promised until the issue is resolved.", "5.2-1", default=None)
    security_txt: Answer = ask("Is a security.txt published at /.well-known/security.txt on the service's domains?",
                               "5.2-1")
    advisories_url: Url | None = ask("Where fixed vulnerabilities are announced.", "5.2-2", "5.3-11", default=None)


class SupportPeriod(Section):
    """How long security updates are promised (UK PSTI requirement 3)."""

    end_date: Day | None = ask("The last day security updates are guaranteed.", "5.3-13", default=None)
    published_at: Url | None = ask("Where consumers can read that period.", "5.3-13", default=None)


class Updates(Section):
    """How software updates reach devices, apps and the service."""

    mechanism: Literal["automatic", "user-initiated", "both", "none", "unknown"] = ask(
        "How device updates are installed.", "5.3-2", "5.3-4")
    signed_updates: Answer = ask("Are update images signed, and do devices refuse unsigned or altered ones?",
                                 "5.3-9", "5.3-10")
    update_channel_tls: Answer = ask("Are updates downloaded only over TLS with certificate validation?",
                                     "5.3-7", "5.3-10")
    security_fix_days: Days | None = ask(
        "Usual number of days from a confirmed vulnerability to a released fix.", "5.2-2", "5.3-8", default=None)


class Credentials(Section):
    """Passwords and device credentials."""

    device_passwords: Literal["unique-per-device", "user-set", "none", "shared-default", "unknown"] = ask(
        "What passwords units rely on once out of their factory state.",
        "5.1-1", "5.1-2")
    per_device_service_credentials: Answer = ask(
        "Does every device get its own credential for the cloud and the MQTT broker (no fleet-wide secret)?", "5.4-4")
    no_hardcoded_secrets: Answer = ask(
        "Are device software, SDK and app free of hard-coded keys, passwords and API secrets?", "5.4-3")
    credential_revocation: Answer = ask("Can one device's credentials be renewed or revoked on their own?", "5.5-8")


class Authentication(Section):
    """How users and devices log in to the service."""

    login_rate_limiting: Answer = ask(
        "Are repeated failed logins throttled or locked out on every login surface (API, web, MQTT)?", "5.1-5")
    lockout_threshold: Count | None = ask(
        "Failed attempts allowed before throttling or lockout starts.", "5.1-5", default=None)
    uniform_login_errors: Answer = ask(
        "Does a failed login look the same whether or not the account exists?", "5.6-2")
    password_change: Answer = ask("Can users change their password, and does the old one stop working?", "5.1-4")
    sessions_end_on_logout: Answer = ask(
        "Do tokens stop working at logout and after a password change?", "5.1-3")
    tokens_verified: Answer = ask(
        "Does the service check every access token's signature and algorithm, with a strong key?", "5.1-3", "5.5-5")


class AccessControl(Section):
    """Who may read and change what: the segregation the manufacturer relies on."""

    tenant_segregation: Answer = ask(
        "Is each tenant's (brand's, customer's) data and devices out of reach of every other tenant?", "5.5-5", "5.8-2")
    object_ownership_checks: Answer = ask(
        "Is every read and write of a device or record checked against the caller's ownership or grants?",
        "5.5-5", "5.8-2")
    role_checks: Answer = ask("Are administrative functions limited to administrator roles by the service?", "5.5-5")
    authentication_required: Answer = ask(
        "Does every endpoint other than those under public_endpoints require authentication?", "5.5-4")
    public_endpoints: list[Line] = ask(
        "Endpoints public by design, as 'METHOD /path' (for example 'GET /status').", "5.5-4", "5.6-2", default=[])
    device_binding_proof: Answer = ask(
        "Does binding a device to an account need proof of possession, such as a code from the device?", "5.5-5")
    share_revocation: Answer = ask("Does revoking a shared access end the guest's access at once?", "5.5-5")
    mqtt_topic_acls: Answer = ask(
        "Can each device and user publish and subscribe only on its own MQTT topics?", "5.5-5", "5.8-2")


class Communications(Section):
    """Transport security of every endpoint."""

    tls_everywhere: Answer = ask(
        "Is every API, web and MQTT endpoint reachable only over TLS, with no plaintext listener?",
        "5.5-1", "5.5-7", "5.8-1")
    minimum_tls_version: Literal["tls1.2", "tls1.3", "unknown"] = ask(
        "Oldest TLS version any endpoint accepts.", "5.5-1")
    certificate_validation: Answer = ask(
        "Do devices and apps validate the service's certificate (no trust-all, no disabled hostname check)?",
        "5.5-7")


class AttackSurface(Section):
    """What the service exposes, and how it treats what it receives."""

    exposed_endpoints: list[Line] = ask(
        "Every host:port the service exposes to the internet (for example 'api.example.com:443').", "5.6-1",
        default=[])
    debug_routes_disabled: Answer = ask(
        "Are debug, test and internal routes unreachable from the internet?", "5.6-1", "5.6-2")
    minimal_error_detail: Answer = ask(
        "Do error responses leave out stack traces, versions and internal names?", "5.6-2")
    input_validation: Answer = ask(
        "Does the service validate every API parameter and MQTT payload, answering bad input without server errors?",
        "5.13-1")


class PersonalData(Section):
    """Personal data the service holds, and the user's control over it."""

    privacy_policy_url: Url | None = ask("Where the privacy policy is published.", "6-1", default=None)
    account_deletion: Answer = ask(
        "Can users delete their account and personal data from the service themselves?", "5.11-2")
    deletion_confirmed: Answer = ask("Do users get a confirmation once their data is deleted?", "5.11-4")
    telemetry_documented: Answer = ask("Is the telemetry collected, and its purpose, documented for users?", "6-5")


class Operations(Section):
    """How the vendor builds and runs the service."""

    secure_development: Answer = ask(
        "Is the software built under a secure development process (for example IEC 62443-4-1 or NIST SSDF)?",
        "5.6-9")
    sbom_available: Answer = ask("Is a software bill of materials available to the manufacturer?", "5.2-3")
    last_penetration_test: Day | None = ask(
        "Date of the last independent penetration test of the service.", "5.2-3", "5.6-9", default=None)
    security_monitoring: Answer = ask(
        "Are telemetry and service logs watched for security anomalies?", "5.10-1")
    outage_resilience: Answer = ask(
        "Do devices keep their local functions, and reconnect with back-off, when the service is unreachable?",
        "5.9-1", "5.9-2", "5.9-3")
