"""Yardsticks for the stacker, not part of stacking: quality figures against a known
answer (``quality``), the anchor a user would pick instead (``enfuse``: Hugin's
align_image_stack + enfuse, run as child processes, measured by ``child``).  The tests
and ``scripts/bench_stack.py`` share them."""
