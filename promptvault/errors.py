"""Named errors of PromptVault; the CLI and the UI each turn them into a message in one place."""


class PromptVaultError(Exception):
    """Base class: a problem the user can act on, with a message that names it."""


class ValidationError(PromptVaultError):
    """Input is malformed, too large, or otherwise refused before anything is written."""


class NotFoundError(PromptVaultError):
    """A prompt, version, ref or other record does not exist."""


class AlreadyExistsError(PromptVaultError):
    """A record with that name already exists."""


class ConflictError(PromptVaultError):
    """Someone else changed the same thing first (e.g. a branch head moved)."""


class NoChangeError(PromptVaultError):
    """A commit would be identical to the branch head."""


class MergeConflictError(PromptVaultError):
    """A three-way merge found overlapping edits; `conflicts` lists them."""

    def __init__(self, message: str, conflicts: list | None = None):
        super().__init__(message)
        self.conflicts = conflicts or []


class TemplateError(PromptVaultError):
    """A template cannot be parsed or rendered."""


class MissingVariableError(TemplateError):
    """A template needs a variable that was not given; `name` says which."""

    def __init__(self, name: str):
        super().__init__(f"missing variable '{name}'")
        self.name = name


class TemplateSecurityError(TemplateError):
    """Template code tried to reach something the sandbox forbids or exceeded a limit."""


class ConfigurationError(PromptVaultError):
    """The installation is misconfigured (data folder, database URL, master key)."""


class DecryptionError(PromptVaultError):
    """A ciphertext could not be opened: wrong or retired key, tampering, or a row it does not belong to."""


class AuthenticationError(PromptVaultError):
    """A login failed (the message never says whether the account exists)."""


class PermissionDeniedError(PromptVaultError):
    """The acting user's role does not allow this action."""


class AuditError(PromptVaultError):
    """The audit log could not be written or does not verify."""
