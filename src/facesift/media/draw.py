"""Drawing boxes and labels on pixels, for annotated evidence images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def draw_boxes(
    pixels: np.ndarray,
    boxes: Sequence[tuple[float, float, float, float]],
    labels: Sequence[str],
    colors: Sequence[str] | None = None,
) -> Image.Image:
    """A copy of `pixels` with each box outlined and labelled above (or inside) its top edge."""
    image = Image.fromarray(pixels).convert("RGB")
    draw = ImageDraw.Draw(image)
    width = max(2, round(min(image.size) / 300))
    font = ImageFont.load_default(size=max(12, round(min(image.size) / 40)))
    for k, (box, label) in enumerate(zip(boxes, labels, strict=True)):
        color = colors[k] if colors else "#ffd400"
        draw.rectangle(box, outline=color, width=width)
        if label:
            left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
            y = box[1] - (bottom - top) - 2 * width
            if y < 0:
                y = box[1] + width
            draw.rectangle((box[0], y, box[0] + right - left + 2 * width, y + bottom), fill=color)
            draw.text((box[0] + width, y), label, fill="black", font=font)
    return image
