"""Errors a user can act on: one line each, with the exit code the CLI uses."""


class FintermError(Exception):
    """Base for errors shown to the user as `finterm: <message>` with no traceback."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(FintermError):
    """A file of tweets that cannot be read as asked (missing, wrong format, wrong columns)."""

    exit_code = 2


class ConfigError(FintermError):
    """A config file with an unknown or ill-typed key, or one that is not YAML."""

    exit_code = 2


class ModelError(FintermError):
    """A model folder that is absent or incomplete."""

    exit_code = 3


class EngineError(FintermError):
    """An inference engine that cannot run here or failed on a model."""

    exit_code = 3
