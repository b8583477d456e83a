"""Structured output for :class:`ChatH2MT`: a JSON-mode prompt plus validation (no tool calling).

h2mt's small local models have no tool-calling template, so LangChain's default
``with_structured_output`` (which binds the schema as a tool) cannot work. Instead the schema
goes into the system message ("reply with one JSON object that follows this JSON schema"), the
reply is parsed as JSON (a Markdown code fence around it is accepted) and, for a pydantic
class, validated into an instance of it. Nothing constrains the decoding: a reply that is not
valid JSON, or does not validate, raises ``OutputParserException`` (with ``include_raw=True``
it is returned as ``parsing_error`` beside the raw message instead).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, convert_to_messages
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_json_schema
from langchain_core.utils.pydantic import is_basemodel_subclass

__all__ = ["JSON_INSTRUCTION", "METHODS", "structured_output"]

JSON_INSTRUCTION = "Reply with one JSON object only, without any other text"
# LangChain's method names; with no tool calling, "function_calling" is served like "json_schema"
METHODS = ("json_schema", "function_calling", "json_mode")


def _instruction(schema: Mapping[str, Any] | None) -> str:
    if schema is None:
        return JSON_INSTRUCTION + "."
    text = json.dumps(dict(schema), ensure_ascii=False)
    return f"{JSON_INSTRUCTION}, that follows this JSON schema:\n{text}"


def _messages(inp: LanguageModelInput) -> list[BaseMessage]:
    if isinstance(inp, str):
        return [HumanMessage(inp)]
    if isinstance(inp, PromptValue):
        return inp.to_messages()
    return convert_to_messages(inp)


def _with_instruction(inp: LanguageModelInput, instruction: str) -> list[BaseMessage]:
    """The input messages with ``instruction`` at the end of the system message (one is added first
    when there is none: chat templates take a single leading system message)."""
    msgs = _messages(inp)
    if msgs and isinstance(msgs[0], SystemMessage):
        return [SystemMessage(f"{msgs[0].text}\n\n{instruction}"), *msgs[1:]]
    return [SystemMessage(instruction), *msgs]


def structured_output(
    llm: BaseChatModel, schema: Mapping[str, Any] | type | None, *, method: str, include_raw: bool
) -> Runnable[LanguageModelInput, Any]:
    """``llm`` answering in JSON that follows ``schema``: a pydantic class (the result is an instance),
    a JSON schema, a TypedDict or a function (the result is a dict); ``schema=None`` with
    ``method="json_mode"``: any JSON object. There is no tool calling: ``"function_calling"``
    (LangChain's name) is served like ``"json_schema"``."""
    if method not in METHODS:
        raise ValueError(f"ChatH2MT structured output: method must be one of {METHODS}, got {method!r}")
    if schema is None and method != "json_mode":
        raise ValueError(
            f"ChatH2MT structured output: method={method!r} needs a schema (or use method='json_mode')")
    model_cls = schema if isinstance(schema, type) and is_basemodel_subclass(schema) else None
    parser: Runnable[Any, Any] = (
        PydanticOutputParser(pydantic_object=model_cls) if model_cls is not None else JsonOutputParser()
    )
    instruction = _instruction(convert_to_json_schema(schema) if schema is not None else None)
    prompted = RunnableLambda(lambda inp: _with_instruction(inp, instruction), name="H2MTJsonPrompt") | llm
    if not include_raw:
        return prompted | parser
    parse = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
    failed = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=prompted) | parse.with_fallbacks([failed], exception_key="parsing_error")
