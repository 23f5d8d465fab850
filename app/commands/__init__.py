"""One module per `hark` subcommand; each exposes `register(subparsers)`."""
