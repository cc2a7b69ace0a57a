"""Pure functions on vectors: vector indexes, calibration, the decision policy, tracking,
metrics (the similarity metric itself is the embedders', in facesift.vision.similarity)."""
