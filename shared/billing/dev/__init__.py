"""``billing dev``: the whole function set on one machine with embedded defaults."""
