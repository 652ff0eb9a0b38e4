"""CPython binary interface, selected by CPython version."""

import sys

if sys.version_info[:2] == (3, 11):
    from psyco.abi import py311 as current
else:
    current = None

__all__ = ["current"]
