"""The terminal client of hark (`hark talk`): a Textual app over a conversation client and the audio layer."""
