"""CloudEvents 1.0 over HTTP -> Holdfast event payloads (pure).

Accepted: binary mode (attributes in ``ce-*`` headers, ``data`` as the body), structured mode
(``application/cloudevents+json``) and batches (``application/cloudevents-batch+json``, a JSON
array of structured events). The event's attributes map as:

* ``subject`` -> ``customer_id`` (required here; the customer id alphabet applies);
* ``type`` -> the event type, from its last dot-separated segment (``com.acme.billing.purchase``,
  ``com.acme.plan-change``): one of purchase, usage, cancellation, pause, resume, plan_change,
  payment_failed, feedback;
* ``time`` -> ``occurred_at`` (required here: without it a retry would differ from the
  original);
* ``(source, id)`` -> the idempotency key ``cloudevents:sha256:<hex>`` (the spec makes that pair
  unique per event, so a repeat is a duplicate);
* ``data`` (a JSON object) -> the typed fields of ``POST /v1/events`` with the same names and
  units (money in minor units); its other members, and the members of a ``properties`` object
  in it, go into ``properties``, with ``ce_source``, ``ce_id`` and ``ce_type``.

Missing or malformed attributes raise :class:`MappingError` (the endpoint answers 400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from app.events.schemas import ID_PATTERN
from app.integrations.common import TYPED_FIELDS, MappingError, fit_properties, parse_time
from app.integrations.errors import UnsupportedMediaType

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
SPECVERSION = "1.0"
MAX_ATTRIBUTE = 1024
_JSON_MEDIA = re.compile(r"^(application|text)/([a-z0-9.+-]+\+)?json$")
_ID = re.compile(ID_PATTERN)

Mode = Literal["binary", "structured", "batch"]


@dataclass(frozen=True)
class CloudEvent:
    attributes: dict[str, Any]
    data: Any  # parsed JSON, or None


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def content_mode(content_type: str | None, headers: Mapping[str, str]) -> Mode:
    """Which HTTP content mode a request uses: a ``application/cloudevents-batch`` or
    ``application/cloudevents`` media type is a batch or structured; otherwise ``ce-*``
    headers make it binary. Anything else is not a CloudEvent (MappingError)."""
    media = media_type(content_type)
    if media == BATCH:
        return "batch"
    if media == STRUCTURED:
        return "structured"
    if media.startswith("application/cloudevents"):
        raise UnsupportedMediaType(f"{media} is not supported; use JSON.")
    if any(name.lower().startswith("ce-") for name in headers):
        return "binary"
    raise MappingError(
        ("header", "ce-specversion"),
        "not a CloudEvent: send ce-* headers (binary mode) or Content-Type "
        f"{STRUCTURED} or {BATCH}",
    )


def _json_data(raw: bytes | str, datacontenttype: Any) -> Any:
    media = media_type(datacontenttype if isinstance(datacontenttype, str) else None)
    if media and not _JSON_MEDIA.match(media):
        raise UnsupportedMediaType(f"data must be JSON, not {media}.")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise MappingError(("data",), "is not valid JSON") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def from_binary(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """A binary-mode event: ``ce-<name>`` headers (percent-decoded) are the attributes,
    ``Content-Type`` is ``datacontenttype``, the body is the data."""
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith("ce-") and len(lowered) > 3:
            attributes[lowered[3:]] = unquote(value)
        elif lowered == "content-type":
            attributes["datacontenttype"] = value
    data = _json_data(body, attributes.get("datacontenttype")) if body.strip() else None
    return CloudEvent(attributes, data)


def from_structured(obj: Any, loc: tuple[str | int, ...] = ()) -> CloudEvent:
    """A structured-mode event (JSON format): attributes are the members, data is ``data`` or
    the decoded ``data_base64``."""
    if not isinstance(obj, Mapping):
        raise MappingError(loc, "a CloudEvent must be a JSON object")
    attributes = {k: v for k, v in obj.items() if k not in {"data", "data_base64"}}
    if attributes.get("datacontenttype") is not None and not isinstance(
        attributes["datacontenttype"], str
    ):
        raise MappingError((*loc, "datacontenttype"), "must be a media type string")
    if "data" in obj:
        data = obj["data"]
        media = media_type(attributes.get("datacontenttype"))
        if media and not _JSON_MEDIA.match(media):
            raise UnsupportedMediaType(f"data must be JSON, not {media}.")
    elif obj.get("data_base64") is not None:
        encoded = obj["data_base64"]
        try:
            raw = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None:
            raise MappingError((*loc, "data_base64"), "must be base64")
        data = _json_data(raw, attributes.get("datacontenttype"))
    else:
        data = None
    return CloudEvent(attributes, data)


def _text(attributes: Mapping[str, Any], name: str, loc: tuple[str | int, ...]) -> str:
    value = attributes.get(name)
    if not isinstance(value, str) or not value:
        raise MappingError((*loc, name), f"the {name} attribute is required")
    if len(value) > MAX_ATTRIBUTE or "\x00" in value:
        raise MappingError((*loc, name), f"must be at most {MAX_ATTRIBUTE} characters, no NUL")
    return value


def event_type(ce_type: str) -> str | None:
    """The Holdfast type a CloudEvents ``type`` ends in (last dot-separated segment, case and
    ``-``/``_`` insensitive), or None."""
    suffix = ce_type.rsplit(".", 1)[-1].lower().replace("-", "_")
    return suffix if suffix in TYPED_FIELDS else None


def idempotency_key(source: str, event_id: str) -> str:
    digest = hashlib.sha256(json.dumps([source, event_id]).encode()).hexdigest()
    return f"cloudevents:sha256:{digest}"


def to_payload(ce: CloudEvent, loc: tuple[str | int, ...] = ()) -> dict[str, Any]:
    """The Holdfast event payload of a CloudEvent (see the module docstring)."""
    attributes = ce.attributes
    for name in ("specversion", "id", "source", "type"):
        _text(attributes, name, loc)
    if attributes["specversion"] != SPECVERSION:
        raise MappingError((*loc, "specversion"), f"must be {SPECVERSION}")
    kind = event_type(attributes["type"])
    if kind is None:
        raise MappingError((*loc, "type"), "must end in one of: " + ", ".join(sorted(TYPED_FIELDS)))
    subject = _text(attributes, "subject", loc)
    if len(subject) > 200 or not _ID.match(subject):
        raise MappingError(
            (*loc, "subject"),
            "must be a customer id: 1-200 letters, digits and . _ : @ + | = -",
        )
    try:
        occurred = parse_time(_text(attributes, "time", loc))
    except ValueError as exc:
        raise MappingError((*loc, "time"), str(exc)) from None

    data = ce.data if ce.data is not None else {}
    if not isinstance(data, Mapping):
        raise MappingError((*loc, "data"), "must be a JSON object")
    typed = {k: v for k, v in data.items() if k in TYPED_FIELDS[kind]}
    nested = data.get("properties")
    free: dict[str, Any] = {
        "ce_source": attributes["source"],
        "ce_id": attributes["id"],
        "ce_type": attributes["type"],
    }
    for name, value in data.items():
        if name not in TYPED_FIELDS[kind] and not (
            name == "properties" and isinstance(nested, Mapping)
        ):
            free.setdefault(name, value)
    if isinstance(nested, Mapping):
        for name, value in nested.items():
            free.setdefault(name, value)
    properties, _ = fit_properties(free)
    return {
        "idempotency_key": idempotency_key(attributes["source"], attributes["id"]),
        "type": kind,
        "customer_id": subject,
        "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
        "properties": properties,
        **typed,
    }
