"""Plain ``nn.Module`` networks, one per file: ``conf/model/<name>.yaml`` -> ``cifar/models/<name>.py``.

They know nothing of Lightning, Hydra or the data: input normalized float [N, 3, 32, 32], output
[N, 10] logits (or log-probabilities for networks that end in LogSoftmax).
"""
