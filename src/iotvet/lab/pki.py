"""The lab's private CA: one per lab run, written to the lab's work directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its key, as PEM files."""

    cert: Path
    key: Path


class LabPKI:
    """A throwaway CA that signs the lab's server and client certificates."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA(organization_name="iotvet lab CA")
        self.ca_pem = directory / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_pem))

    def issue_server(self, name: str, *hostnames: str) -> Issued:
        """A server certificate for ``hostnames`` (default: 127.0.0.1, ::1, localhost)."""
        names = hostnames or ("127.0.0.1", "::1", "localhost")
        cert = self._ca.issue_cert(*names)
        return self._write(name, cert)

    def issue_client(self, name: str, common_name: str) -> Issued:
        """A client certificate whose subject CN is ``common_name`` (Mosquitto maps it to a username)."""
        cert = self._ca.issue_cert(common_name=common_name)
        return self._write(name, cert)

    def _write(self, name: str, cert: trustme.LeafCert) -> Issued:
        cert_path = self.directory / f"{name}.crt"
        key_path = self.directory / f"{name}.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_path))
        cert.private_key_pem.write_to_path(str(key_path))
        key_path.chmod(0o600)
        return Issued(cert_path, key_path)
