"""Using a trained network: safe checkpoint loading, test-time augmentation, user images."""
