"""The LLM-as-judge evaluator (arize-phoenix-evals), run only when a model endpoint is
configured: an OpenAI-compatible chat endpoint (`--judge-url`, `--judge-model`, the API key in
the variable `--judge-api-key-env` names). Without one it is skipped, and the run says so."""

from __future__ import annotations

import os
from typing import Optional

from .evaluators import Verdict
from .spans import ToolCall

TEMPLATE = """You are reviewing one call of a tool on an MCP server that serves firewall rules.

Tool: {tool}
Arguments: {arguments}
Result returned to the caller: {output}

Does the result answer the call as the tool's name and arguments ask (the requested data, or a
clear error saying why not)? Answer "answers" or "does_not_answer"."""


class LlmJudge:
    """`answers` / `does_not_answer`, judged by a model from the captured input and output."""

    name = "llm_judge"

    def __init__(self, base_url: str, model: str, api_key: Optional[str]):
        from phoenix.evals import LLM, create_classifier

        llm = LLM(provider="openai", model=model, base_url=base_url, api_key=api_key or "unused")
        self.classifier = create_classifier(
            name=self.name,
            prompt_template=TEMPLATE,
            llm=llm,
            choices={"answers": 1.0, "does_not_answer": 0.0},
        )

    def evaluate(self, call: ToolCall) -> Optional[Verdict]:
        if call.input_text is None or call.output_text is None:
            return None
        scores = self.classifier.evaluate(
            {"tool": call.tool, "arguments": call.input_text, "output": call.output_text}
        )
        score = scores[0]
        return Verdict(score.label or "", float(score.score or 0.0), score.explanation or "")


def configured_judge(base_url: Optional[str], model: Optional[str], api_key_env: str) -> tuple[Optional[LlmJudge], str]:
    """The judge when an endpoint and model are given, else `None`; and a line saying which."""
    if not base_url or not model:
        return None, (
            "llm_judge: skipped (no model endpoint configured: pass --judge-url URL and "
            "--judge-model NAME of an OpenAI-compatible endpoint to run it)"
        )
    judge = LlmJudge(base_url, model, os.environ.get(api_key_env))
    return judge, f"llm_judge: {model} at {base_url}"
