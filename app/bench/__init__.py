"""Benchmarks of what users feel: response latency, barge-in and capacity against a running `hark serve`.

`client` is a real-time test client (PCM and token mode), `questions` makes the held-out spoken input,
`server_process` starts or reaches the service, `latency`/`bargein`/`capacity` are the `hark bench`
entries, `stats` holds shared summaries and machine facts, and `plots` draws their PNGs.
"""
