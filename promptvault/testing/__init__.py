"""Test doubles that speak real protocols: the loopback OpenAI-compatible fake provider."""

from promptvault.testing.fake_provider import FakeConfig, FakeProvider, RecordedRequest

__all__ = ["FakeConfig", "FakeProvider", "RecordedRequest"]
