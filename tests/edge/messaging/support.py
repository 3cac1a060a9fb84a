"""Helpers shared by the messaging tests (not a test module)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from edge.config import Config, config_from_dict
from edge.messaging.commands import load_schema

#: topic suffix -> schema name
TOPIC_SCHEMAS = {
    "status": "status",
    "vitals": "vitals",
    "trends": "trends",
    "alerts": "alert",
    "alerts/active": "alerts-active",
    "dose-check": "dose-check",
}


def bed_config(url: str, state_dir: Path, bed: str = "b1", **sections: Any) -> Config:
    data: dict[str, Any] = {
        "bed": {"site": "s1", "unit": "u1", "bed": bed},
        "broker": {"url": url},
        "storage": {"state_dir": str(state_dir)},
        "publish": {"vitals_batch_s": 0},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config_from_dict(data)


def schema_for(topic: str) -> str:
    rest = topic.split("/", 5)[5]
    if rest.startswith("cmd/") and rest.endswith("/reply"):
        return "cmd-reply"
    return TOPIC_SCHEMAS[rest]


def validate(topic: str, payload: bytes) -> dict[str, Any]:
    """Check a published payload against its schema with the real jsonschema."""
    body = json.loads(payload)
    schema = load_schema(schema_for(topic))
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        body
    )
    return body
