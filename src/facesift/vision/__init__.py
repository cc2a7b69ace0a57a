"""Pure functions and models on pixels: detect, landmarks, align, quality, embed."""
