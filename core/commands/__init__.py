"""One module per group of commands; each defines `register(subparsers)` and optionally `ORDER`."""
