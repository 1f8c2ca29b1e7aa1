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


def exit_code_for(exc: BaseException, say, log) -> int:
    """What a command line does with an exception that ends it (call it inside `except`):
    a FintermError is its one line and code, ^C is 130, anything else a bug, logged in full
    with one line to the user."""
    if isinstance(exc, FintermError):
        log.info("exit %d: %s", exc.exit_code, exc.message)
        say(exc.message)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 130
    log.exception("unexpected error")
    say(f"unexpected error: {exc.__class__.__name__}: {str(exc)[:200]} (details in the log file)")
    return 1
