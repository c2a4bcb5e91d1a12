"""The ``echo`` job kind: one request per item, the model's answer recorded. Proves the plumbing end to end
(with the echo backend or a real model) without any tagging logic."""

from __future__ import annotations

from typing import Any

from imageworks import jobkinds
from imageworks.inference import GenRequest, GenResult


class EchoTask:
    def __init__(self, item: dict[str, Any], params: dict[str, Any], model: dict[str, Any]) -> None:
        self.item = item
        self.params = params
        self.model = model
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
                max_new_tokens=int(self.params["max_new_tokens"]),
            )
        ]

    def feed(self, results: list[GenResult]) -> None:
        self.result = results[0]

    def record(self) -> dict[str, Any]:
        assert self.result is not None
        return {
            "status": "ok" if self.result.ok else "error",
            "error": self.result.error,
            "output": self.result.text,
            "tokens": self.result.tokens,
            "seconds": self.result.seconds,
            "model": self.model.get("name"),
        }


class EchoKind:
    name = "echo"

    def validate(self, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("text", ""), str):
                raise jobkinds.BadJobParams(f"item {i}: expected {{'text': str, 'image'?: path}}")
        unknown = set(params) - {"max_new_tokens"}
        if unknown:
            raise jobkinds.BadJobParams(f"echo job: unknown params {sorted(unknown)}")
        return {"max_new_tokens": int(params.get("max_new_tokens", 32))}

    def make_task(self, item: dict[str, Any], params: dict[str, Any], model: dict[str, Any]) -> EchoTask:
        return EchoTask(item, params, model)


jobkinds.register(EchoKind())
