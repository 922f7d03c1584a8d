"""Development helpers for this repository (pytest plugin, stub installer); not shipped."""
