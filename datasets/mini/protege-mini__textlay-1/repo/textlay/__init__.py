"""textlay: lay out plain text for monospaced terminals and reports."""

from .align import align_lines, center, justify
from .columns import columns
from .tokens import split_words
from .wrap import fill, wrap

__all__ = ["align_lines", "center", "columns", "fill", "justify", "split_words", "wrap"]
__version__ = "1.0.0"
