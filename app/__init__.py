"""hark's application layer: the command line, the websocket service, sessions and turn-taking."""
