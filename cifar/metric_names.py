"""Names of the logged metrics, defined once (configs refer to them as strings, e.g. ``val/acc``)."""

TRAIN_LOSS = "train/loss"
TRAIN_LOSS_RUNNING = "train/loss_running"  # the epoch so far, on the progress bar only
TRAIN_ACC = "train/acc"
VAL_LOSS = "val/loss"
VAL_ACC = "val/acc"
VAL_ACC_BEST = "val/acc_best"
TEST_LOSS = "test/loss"
TEST_ACC = "test/acc"
TEST_ACC_NO_TTA = "test/acc_no_tta"
TEST_ECE = "test/ece"  # expected calibration error (cifar/evaluation/calibration.py)
TEST_BRIER = "test/brier"  # Brier score
WALL_SECONDS = "time/wall_seconds"  # the whole job, logged once at its end
