"""PromptVault: versioned prompts, multi-model runs, cost analytics and a key vault."""

__version__ = "0.1.0"
__all__ = ["get_prompt", "__version__"]


def __getattr__(name: str):
    # The SDK is loaded on first use so that `import promptvault` stays cheap for the CLI and the app.
    if name == "get_prompt":
        from promptvault.sdk import get_prompt

        return get_prompt
    raise AttributeError(name)
