"""Reading pixels and provenance: images, videos, hashing, EXIF, file discovery."""

from facesift.media.files import (
    IMAGE_EXTENSIONS,
    MEDIA_EXTENSIONS,
    VIDEO_EXTENSIONS,
    iter_media_files,
    sha256_file,
)
from facesift.media.image import DEFAULT_MAX_PIXELS, DecodedImage, load_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "MEDIA_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "DecodedImage",
    "iter_media_files",
    "load_image",
    "sha256_file",
]
