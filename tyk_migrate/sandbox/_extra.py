"""Imported first by the package: without the ``sandbox`` extra, one line naming it, not starlette's traceback."""

from ..extras import require

require("sandbox", needed_for="the sandbox")
