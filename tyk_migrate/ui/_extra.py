"""Imported first by the package: without ipywidgets, one line naming the ``lab`` extra, not a traceback."""

from ..extras import require

require("lab", "ipywidgets", needed_for="the migration console")
