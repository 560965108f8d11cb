"""Sub-commands of the gd-torch CLI: each module has add_arguments(parser) and run(args) -> int."""
