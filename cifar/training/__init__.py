"""Training: the one LightningModule, how a run is assembled from config, and its optimization parts."""
