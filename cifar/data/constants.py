"""CIFAR-10 facts, defined once."""

CLASS_NAMES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (3, 32, 32)  # channels, height, width
IMAGE_BYTES = 3 * 32 * 32
TRAIN_SIZE = 50_000

# Per-channel mean and std of the official training set, on the [0, 1] scale.
MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
