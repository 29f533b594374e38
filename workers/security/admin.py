"""Apply and read ACLs with the admin client (the caller's settings must be a principal allowed
to alter ACLs: the super user, or one with ALTER on the cluster)."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from workers.clients import base_config
from workers.config import FleetSettings
from workers.security import errors
from workers.security.acls import Acl

TIMEOUT_S = 15.0


class AclError(Exception):
    """The broker refused or failed an ACL call; the message says which and what to do."""


def _admin(settings: FleetSettings, refusals: errors.Refusals) -> AdminClient:
    """An admin client, after a quick check that the broker accepts the credentials (a wrong
    password would otherwise surface as a timeout); its refusals are told to `refusals`."""
    refused = errors.check_access(base_config(settings), timeout_s=5.0)
    if refused is not None:
        raise AclError(refused)
    return AdminClient(base_config(settings, refusals.record))


def binding(acl: Acl) -> AclBinding:
    return AclBinding(
        ResourceType[acl.resource_type],
        acl.name,
        ResourcePatternType[acl.pattern],
        acl.principal,
        acl.host,
        AclOperation[acl.operation],
        AclPermissionType.ALLOW,
    )


def _acl(b: AclBinding) -> Acl | None:
    """A broker binding as an Acl; None for DENY bindings (the plan has none)."""
    if b.permission_type != AclPermissionType.ALLOW:
        return None
    return Acl(b.principal, b.restype.name, b.resource_pattern_type.name, b.name, b.operation.name, b.host)


def _result(future: object, what: str, refusals: errors.Refusals) -> object:
    try:
        return future.result(timeout=TIMEOUT_S)  # type: ignore[attr-defined]
    except TimeoutError as exc:
        refused = refusals.within(TIMEOUT_S + 5) or "is the broker reachable?"
        raise AclError(f"{what}: no answer in {TIMEOUT_S:.0f} s: {refused}") from exc
    except KafkaException as exc:
        raise AclError(
            f"{what}: {exc}. The client must be a super user (or hold ALTER/DESCRIBE on the cluster): "
            "check REGIME_FLEET_KAFKA__SASL_USERNAME"
        ) from exc


def current(settings: FleetSettings, principals: Iterable[str]) -> list[Acl]:
    """Every ALLOW binding the broker holds for these principals."""
    refusals = errors.Refusals()
    admin = _admin(settings, refusals)
    found: set[Acl] = set()
    for principal in sorted(set(principals)):
        query = AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            principal,
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        result = _result(admin.describe_acls(query), f"describing the ACLs of {principal}", refusals)
        found.update(a for a in map(_acl, result) if a is not None)  # type: ignore[call-overload]
    return sorted(found)


def create(settings: FleetSettings, acls: list[Acl]) -> int:
    """Create the bindings (creating an existing one is a no-op); how many were asked for."""
    if not acls:
        return 0
    refusals = errors.Refusals()
    admin = _admin(settings, refusals)  # held until the futures resolve: a destroyed client fails them
    futures = admin.create_acls([binding(a) for a in acls], request_timeout=TIMEOUT_S)
    for b, future in futures.items():
        _result(future, f"creating {b}", refusals)
    return len(acls)


def delete(settings: FleetSettings, acls: list[Acl]) -> int:
    """Delete exactly these bindings; how many the broker deleted."""
    if not acls:
        return 0
    filters = [
        AclBindingFilter(
            ResourceType[a.resource_type],
            a.name,
            ResourcePatternType[a.pattern],
            a.principal,
            a.host,
            AclOperation[a.operation],
            AclPermissionType.ALLOW,
        )
        for a in acls
    ]
    deleted = 0
    refusals = errors.Refusals()
    admin = _admin(settings, refusals)
    for f, future in admin.delete_acls(filters, request_timeout=TIMEOUT_S).items():
        deleted += len(_result(future, f"deleting {f}", refusals))  # type: ignore[arg-type]
    return deleted
