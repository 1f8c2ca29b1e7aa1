"""finterm: finance tweets, scored for sentiment and topic on the CPU, in the terminal."""

from pathlib import Path

__version__ = "0.1.0"

#: The repository root when installed from a checkout (editable or not, assets live beside the code).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Where the shipped model folders live.
ASSETS_MODELS = PROJECT_ROOT / "assets" / "models"
