"""LangChain standard suites (langchain-tests) for ChatH2MT and H2MTRetriever, offline with tiny models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_tests")

from h2mt import H2MT, ChunkConfig, H2MTConfig  # noqa: E402
from h2mt.index.chunking import SimpleTokenCounter  # noqa: E402
from h2mt.index.encoders.base import HashingEncoder  # noqa: E402
from langchain_tests.integration_tests import RetrieversIntegrationTests  # noqa: E402
from langchain_tests.unit_tests import ChatModelUnitTests  # noqa: E402

from h2mt_integrations.langchain import ChatH2MT, H2MTRetriever  # noqa: E402

MANUAL = """# Server Configuration

## Connections

max_connections sets the maximum number of concurrent connections to the database server.
The default is typically 100 connections. Each connection uses shared memory.

superuser_reserved_connections reserves connection slots for superusers.

## Resource Consumption

work_mem sets the base maximum amount of memory used by a query operation such as a sort
before writing to temporary disk files. The default value is four megabytes.

shared_buffers sets the amount of memory the server uses for shared memory buffers.

# Write Ahead Log

## Checkpoints

checkpoint_timeout is the maximum time between automatic WAL checkpoints. The default is five minutes.

max_wal_size is the maximum size to let the WAL grow during automatic checkpoints.

# Text Search

GIN indexes are the preferred text search index type. GiST indexes are lossy.
"""


def build_tiny_index(folder: Path) -> Path:
    """A small saved index (hashing encoder, word counter) over MANUAL."""
    md = folder / "manual.md"
    md.write_text(MANUAL, encoding="utf-8")
    out = folder / "manual.h2mt"
    cfg = H2MTConfig(chunk=ChunkConfig(max_tokens=24, min_tokens=4))
    H2MT.build([md], cfg, encoder=HashingEncoder(256), token_counter=SimpleTokenCounter()).save(out)
    return out


class TestChatH2MTUnit(ChatModelUnitTests):
    """``ChatModelUnitTests`` (the model is loaded lazily, so no weights are needed here)."""

    @property
    def chat_model_class(self) -> type[ChatH2MT]:
        return ChatH2MT

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "tests/tiny-llama", "device": "cpu"}

    # Unsupported capabilities, each with its reason:
    @property
    def has_tool_calling(self) -> bool:
        return False  # small local instruct models (SmolLM2 class) have no reliable tool-call format

    @property
    def has_tool_choice(self) -> bool:
        return False  # no tool calling, hence no tool choice

    @property
    def has_structured_output(self) -> bool:
        return True  # a JSON-schema prompt plus validation (h2mt_integrations.langchain._structured)

    @property
    def supports_json_mode(self) -> bool:
        return True  # method="json_mode": a JSON-object prompt plus parsing (no constrained decoding)

    @property
    def supports_image_inputs(self) -> bool:
        return False  # text-only causal LMs

    @property
    def supports_image_urls(self) -> bool:
        return False  # text-only, and offline (no URL fetching)

    @property
    def supports_pdf_inputs(self) -> bool:
        return False  # text-only; index PDFs with `h2mt build` and use H2MTRetriever instead

    @property
    def supports_audio_inputs(self) -> bool:
        return False  # text-only

    @property
    def supports_video_inputs(self) -> bool:
        return False  # text-only

    @property
    def supports_image_tool_message(self) -> bool:
        return False  # no tool calling, text-only

    @property
    def supports_pdf_tool_message(self) -> bool:
        return False  # no tool calling, text-only

    @property
    def supports_anthropic_inputs(self) -> bool:
        return False  # Anthropic-style content blocks (tool_use, images) are not text

    @property
    def supports_model_override(self) -> bool:
        return False  # one instance serves one loaded local model; create another ChatH2MT(model=...)

    @property
    def returns_usage_metadata(self) -> bool:
        return True  # prompt/completion token counts on every message (streamed: on the last chunk)


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore:.*is marked with '@pytest.mark.asyncio' but it is not an async function")
class TestH2MTRetrieverStandard(RetrieversIntegrationTests):
    """``RetrieversIntegrationTests`` over a tiny saved index (offline; hashing encoder)."""

    index_path: Path | None = None

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _tiny_index(cls, tmp_path_factory: pytest.TempPathFactory) -> None:
        cls.index_path = build_tiny_index(tmp_path_factory.mktemp("lc-retriever"))

    @property
    def retriever_constructor(self) -> type[H2MTRetriever]:
        return H2MTRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"index_path": str(self.index_path), "budget": 256}

    @property
    def retriever_query_example(self) -> str:
        return "What is the default value of work_mem?"
