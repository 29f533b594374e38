"""The local broker with security on: a SASL_SSL listener (SCRAM-SHA-512), a locally made CA
and broker certificate, and the StandardAuthorizer denying everything not granted by an ACL.

Users are created when the storage is formatted (`StorageTool format --add-scram`): `admin`,
the only super user, and one principal per worker (`regime-fleet-<worker>`). Their passwords
are random, kept in `<home>/secrets/credentials.json` (mode 0600), and each user gets a
`<home>/clients/<user>.env` file of REGIME_FLEET_KAFKA__* settings to source.
The controller listener (127.0.0.1 only) takes mutual TLS: the broker's certificate maps to
`admin`, so `admin` is the one super user.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from harness.broker.certs import TlsFiles, ensure_tls
from harness.broker.local import BrokerError, LocalBroker

SECURE_PORT = 19098
MECHANISM = "SCRAM-SHA-512"
ADMIN = "admin"
SCRAM_ITERATIONS = 8192
USER_PREFIX = "regime-fleet-"
BROKER_CN = "regime-fleet-broker"


def worker_user(worker: str) -> str:
    """The SCRAM user (and ACL principal `User:<name>`) of one worker."""
    return f"{USER_PREFIX}{worker}"


def fleet_users() -> list[str]:
    """One user per worker in topology/fleet.yaml, the api and trainer services, and the topic
    job: every principal the ACL plan knows."""
    from workers.security.acls import fleet_needs
    from workers.topology import load_topology

    return [worker_user(needs.name) for needs in fleet_needs(load_topology(1))]


@dataclass(frozen=True)
class SecureBroker(LocalBroker):
    port: int = SECURE_PORT

    @property
    def tls(self) -> TlsFiles:
        return ensure_tls(self.home / "tls", BROKER_CN, ["127.0.0.1", "localhost"])

    @property
    def credentials_file(self) -> Path:
        return self.home / "secrets" / "credentials.json"

    def credentials(self) -> dict[str, str]:
        """user -> password, made once per broker home (new users are added, never changed)."""
        wanted = [ADMIN, *fleet_users()]
        known: dict[str, str] = {}
        if self.credentials_file.exists():
            known = json.loads(self.credentials_file.read_text())
        if not set(wanted) <= set(known):
            known.update({u: secrets.token_urlsafe(24) for u in wanted if u not in known})
            self.credentials_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(known, f, indent=2, sort_keys=True)
        return known

    def client_settings(self, user: str = ADMIN, password: str | None = None) -> dict[str, str]:
        """The fleet's KafkaSettings fields for `user` (password from the credentials file)."""
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "sasl_username": user,
            "sasl_password": self.credentials()[user] if password is None else password,
            "ssl_ca_location": str(self.tls.ca_cert),
        }

    def client_config(self, user: str = ADMIN) -> dict[str, str]:
        s = self.client_settings(user)
        return {
            "bootstrap.servers": s["bootstrap_servers"],
            "security.protocol": s["security_protocol"],
            "sasl.mechanism": s["sasl_mechanism"],
            "sasl.username": s["sasl_username"],
            "sasl.password": s["sasl_password"],
            "ssl.ca.location": s["ssl_ca_location"],
        }

    # -- LocalBroker hooks -----------------------------------------------------------

    def extra_properties(self) -> dict[str, str]:
        admin = self.credentials()[ADMIN]
        listener = "listener.name.sasl_ssl"
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN}" password="{admin}";'
        )
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            f"{listener}.{MECHANISM.lower()}.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.tls.broker_keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.tls.ca_cert),
            "ssl.client.auth": "none",
            "ssl.endpoint.identification.algorithm": "https",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{ADMIN}",
            # The broker reaches its own controller with its certificate (mutual TLS), which
            # maps to the admin principal: no ANONYMOUS super user, no second one.
            "listener.name.controller.ssl.client.auth": "required",
            "listener.name.controller.ssl.principal.mapping.rules": f"RULE:^CN={BROKER_CN}$/{ADMIN}/,DEFAULT",
        }

    def format_args(self) -> list[str]:
        args = []
        for user, password in sorted(self.credentials().items()):
            args += [
                "--add-scram",
                f"{MECHANISM}=[name={user},iterations={SCRAM_ITERATIONS},password={password}]",
            ]
        return args

    def up(self, timeout_s: float = 120.0) -> str:
        """Start (as LocalBroker.up) and make sure every fleet user exists (new workers)."""
        bootstrap = super().up(timeout_s)
        self.ensure_users()
        self.write_client_files()
        return bootstrap

    def ensure_users(self) -> list[str]:
        """Create SCRAM users known to credentials.json but not to the broker; their names."""
        admin = AdminClient({**self.client_config(), "log_level": 0})
        creds = self.credentials()
        described = admin.describe_user_scram_credentials(list(creds))
        missing = []
        for user, future in described.items():
            try:
                future.result(timeout=15)
            except Exception:
                missing.append(user)
        if missing:
            info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
            alterations: list[Any] = [
                UserScramCredentialUpsertion(u, info, creds[u].encode()) for u in missing
            ]
            for user, future in admin.alter_user_scram_credentials(alterations).items():
                try:
                    future.result(timeout=15)
                except Exception as exc:
                    raise BrokerError(f"could not create SCRAM user {user}: {exc}") from exc
        return missing

    def write_client_files(self) -> Path:
        """One REGIME_FLEET_KAFKA__* env file per user (mode 0600); the folder."""
        folder = self.home / "clients"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for user in self.credentials():
            lines = [f"REGIME_FLEET_KAFKA__{k.upper()}={v}\n" for k, v in self.client_settings(user).items()]
            fd = os.open(folder / f"{user}.env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.writelines(lines)
        return folder

    def status(self) -> dict[str, object]:
        return {
            **super().status(),
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "ca_location": str(self.tls.ca_cert),
            "client_env_files": str(self.home / "clients"),
        }
