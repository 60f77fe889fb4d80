"""The Anthropic (Claude) client for agentic generation, configured per deployment.

The API key is read from the environment variable ANTHROPIC_API_KEY when a client is built, and
only then: it is not a config field, so it never shows in the Dagster UI, run config, metadata,
logs or this resource's repr.
"""

from __future__ import annotations

from typing import Literal

import dagster as dg

from hrm_core.agentic.client import MessageClient, anthropic_client, api_key_from_env


class AnthropicResource(dg.ConfigurableResource):
    """Model, limits and mode of Claude calls; `cache_dir` empty means ``<lake>/agentic/cache``."""

    model: str = "claude-sonnet-4-6"
    judge_model: str = ""  # empty: the generation model judges
    max_tokens: int = 1024
    concurrency: int = 8
    mode: Literal["batch", "concurrent", "auto"] = "auto"
    batch_min: int = 100
    batch_timeout_s: float = 3600.0
    cache_dir: str = ""
    spend_limit_usd: float = 50.0

    def require_key(self) -> str:
        """The API key, or a RuntimeError that says how to set it."""
        return api_key_from_env()

    def message_client(self, default_cache_dir: str) -> MessageClient:
        """A cached, retried, batching client for one run."""
        return MessageClient(
            anthropic_client(self.require_key()),
            self.cache_dir or default_cache_dir,
            self.model,
            concurrency=self.concurrency,
            mode=self.mode,
            batch_min=self.batch_min,
            batch_timeout_s=self.batch_timeout_s,
            spend_limit_usd=self.spend_limit_usd,
        )
