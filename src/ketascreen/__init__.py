"""ketascreen: screening for ketamine therapy, kind to people and precise for clinicians.

The core API::

    from ketascreen import screen
    result = screen({"age": 34, "phq9_9": 0, ...})
    result.disposition
"""

from ketascreen.domain.outcome import ScreeningResult
from ketascreen.domain.types import Disposition, Level
from ketascreen.errors import AnswersError, ContentError, InputError, KetascreenError
from ketascreen.screening import get_content, screen

__all__ = [
    "AnswersError",
    "ContentError",
    "Disposition",
    "InputError",
    "KetascreenError",
    "Level",
    "ScreeningResult",
    "get_content",
    "screen",
]
__version__ = "0.1.0"
