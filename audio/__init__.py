"""hark's audio layer: devices, resampling, the streaming codec, voice activity, echo handling."""
