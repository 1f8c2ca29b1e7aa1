"""finterm: finance tweets, scored for sentiment and topic on the CPU, in the terminal."""

from pathlib import Path

__version__ = "0.1.0"

#: The repository root when running from a checkout (an editable install).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _shipped_models() -> Path:
    """assets/models in a checkout; in a plain install, the copy packaged as finterm/models."""
    checkout = PROJECT_ROOT / "assets" / "models"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "models"


#: Where the shipped model folders live.
ASSETS_MODELS = _shipped_models()
