"""Use-case inputs and outputs: plain typed objects any door (HTTP, CLI, console) maps to and from."""
