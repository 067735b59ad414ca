"""UI components: `show(..., key=...) -> value` functions that own the session-state keys under `key`."""
