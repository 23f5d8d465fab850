"""The omni MoE engine: model, streaming sessions, scheduler, tokenizer, data synthesis and training.

Kept import-free so that `hark --help` does not load torch.
"""
