"""The ``echo`` job kind: one request per item, the model's answer recorded. Proves the plumbing end to end
(with the echo backend or a real model) without any tagging logic."""

from __future__ import annotations

from typing import Any

import msgspec

from imageworks.inference import GenRequest, GenResult
from imageworks.jobs.base import BadJobParams, WriteIntents
from imageworks.jobs.records import EchoRecord


class EchoPlan(msgspec.Struct, frozen=True, kw_only=True):
    max_new_tokens: int
    model_name: str | None


class EchoTask:
    def __init__(self, item: dict[str, Any], plan: EchoPlan) -> None:
        self.item = item
        self.plan = plan
        self.result: GenResult | None = None
        self.sent = False

    @property
    def done(self) -> bool:
        return self.result is not None

    def next_requests(self) -> list[GenRequest]:
        if self.sent:
            return []
        self.sent = True
        return [
            GenRequest(
                prompt=str(self.item.get("text", "")),
                image=self.item.get("image"),
                max_new_tokens=self.plan.max_new_tokens,
            )
        ]

    def feed(self, results: list[GenResult]) -> None:
        self.result = results[0]

    def record(self) -> EchoRecord:
        assert self.result is not None
        return EchoRecord(
            status="ok" if self.result.ok else "error",
            error=self.result.error,
            output=self.result.text,
            tokens=self.result.tokens,
            seconds=self.result.seconds,
            model=self.plan.model_name,
        )


class EchoKind:
    name = "echo"
    record_type = EchoRecord
    uses_model = True

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("text", ""), str):
                raise BadJobParams(f"item {i}: expected {{'text': str, 'image'?: path}}")
        unknown = set(params) - {"max_new_tokens"}
        if unknown:
            raise BadJobParams(f"echo job: unknown params {sorted(unknown)}")
        return {"max_new_tokens": int(params.get("max_new_tokens", 32))}

    def prepare(self, params: dict[str, Any], model: dict[str, Any]) -> EchoPlan:
        return EchoPlan(max_new_tokens=int(params["max_new_tokens"]), model_name=model.get("name"))

    def make_task(self, item: dict[str, Any], plan: EchoPlan) -> EchoTask:
        return EchoTask(item, plan)

    def finalize(self, record: EchoRecord, plan: EchoPlan, job_id: str, intents: WriteIntents) -> EchoRecord:
        return record

    def finalizes(self, plan: EchoPlan) -> bool:
        return False
